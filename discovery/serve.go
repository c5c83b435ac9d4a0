package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/internal/lifecycle"
	"github.com/etcdboot/etcdboot/spec"
)

// LoadTSIGKeyFile reads a TSIG key written by the generator (out/dns/tsig.yaml).
func LoadTSIGKeyFile(path string) (spec.TSIGKey, error) {
	var k spec.TSIGKey
	data, err := os.ReadFile(path)
	if err != nil {
		return k, fmt.Errorf("read TSIG key: %w", err)
	}
	if err := yaml.Unmarshal(data, &k); err != nil || k.Name == "" || k.Secret == "" {
		return k, fmt.Errorf("%s is not a TSIG key (name, algorithm, secret): %v", path, err)
	}
	return k, nil
}

// ServeConfigFor fills in what `etcdboot dns serve -z ZONE` leaves out: the
// origin from the zone's file name (<domain>.zone) and the generator's update
// key beside it (tsig.yaml), when present.
func ServeConfigFor(cfg ServerConfig, keyFile string) (ServerConfig, error) {
	if cfg.Origin == "" {
		base := filepath.Base(cfg.ZoneFile)
		if !strings.HasSuffix(base, ".zone") {
			return cfg, fmt.Errorf("cannot tell the zone's origin from %s: name it <domain>.zone or pass --origin", cfg.ZoneFile)
		}
		cfg.Origin = strings.TrimSuffix(base, ".zone")
	}
	if keyFile == "" {
		keyFile = filepath.Join(filepath.Dir(cfg.ZoneFile), "tsig.yaml")
		if _, err := os.Stat(keyFile); errors.Is(err, fs.ErrNotExist) {
			return cfg, nil
		}
	}
	k, err := LoadTSIGKeyFile(keyFile)
	if err != nil {
		return cfg, err
	}
	cfg.TSIGKeys = append(cfg.TSIGKeys, k)
	return cfg, nil
}

// Serve runs the server until ctx ends, then shuts it down gracefully. It
// prints the address it answers on to status once it listens.
func Serve(ctx context.Context, cfg ServerConfig, status io.Writer) error {
	srv, err := NewServer(cfg)
	if err != nil {
		return err
	}
	return lifecycle.Run(ctx, srv, func() {
		fmt.Fprintf(status, "serving zone %s on %s (udp+tcp), %d update key(s)\n", cfg.Origin, srv.Addr(), len(cfg.TSIGKeys))
	}, nil, nil)
}
