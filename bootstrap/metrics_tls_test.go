package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/internal/tlstest"
	"github.com/etcdboot/etcdboot/spec"
)

// TestAgentMetricsServeTheClustersTLSMinimum starts the agent's metrics
// endpoint for payloads with tls.minVersion unset (TLS 1.3) and TLS1.2, on
// a loopback address of its own, and shakes hands with openssl s_client:
// TLS 1.3 works; a TLS 1.2-only client is refused unless the payload allows
// TLS 1.2, and then still when it offers only CBC suites.
func TestAgentMetricsServeTheClustersTLSMinimum(t *testing.T) {
	tlstest.OpenSSL(t)
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(t), OutDir: out}); err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(out, "pki")
	admin := tlsfiles.Files{CAFile: filepath.Join(pki, "ca.crt"), CertFile: filepath.Join(pki, "admin.crt"), KeyFile: filepath.Join(pki, "admin.key")}
	// The port is fixed (monitoring.DefaultAgentMetricsPort): an address
	// of each case's own keeps it free of anything else on the host.
	for _, tt := range []struct{ min, ip string }{{"", "127.0.23.82"}, {spec.TLS12, "127.0.23.83"}} {
		t.Run("minVersion="+spec.EffectiveTLSMinVersion(tt.min), func(t *testing.T) {
			p := &spec.NodePayload{
				Node: &spec.Member{Name: "etcd1", IPs: []string{tt.ip}},
				TLS: spec.NodeTLS{CAFile: admin.CAFile, ServerCertFile: filepath.Join(pki, "etcd1-server.crt"),
					ServerKeyFile: filepath.Join(pki, "etcd1-server.key"), MinVersion: tt.min},
			}
			a, err := NewAgent(Config{StateDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := a.startMetrics(ctx, newNode(p, 6)); err != nil {
				t.Fatal(err)
			}
			addr := tt.ip + ":" + strconv.Itoa(monitoring.DefaultAgentMetricsPort)
			scrape(t, admin, addr)

			c := tlstest.Client{Version: tls.VersionTLS13, CAFile: admin.CAFile, CertFile: admin.CertFile, KeyFile: admin.KeyFile}
			if _, err := tlstest.Handshake(t, addr, c); err != nil {
				t.Errorf("TLS 1.3 client: %v", err)
			}
			c.Version = tls.VersionTLS12
			res, err := tlstest.Handshake(t, addr, c)
			if tt.min == "" {
				if tlstest.Alert(err) != "protocol version" {
					t.Errorf("a TLS 1.2-only client was not refused for its version: %+v, %v", res, err)
				}
				return
			}
			if err != nil {
				t.Errorf("TLS 1.2 allowed, but the TLS 1.2 client failed: %v", err)
			}
			c.Ciphers = tlstest.WeakTLS12Ciphers
			if res, err := tlstest.Handshake(t, addr, c); tlstest.Alert(err) != "handshake failure" {
				t.Errorf("a TLS 1.2 client offering only CBC suites was not refused for its suites: %+v, %v", res, err)
			}
		})
	}
}

// scrape waits until the endpoint serves /metrics to a client like
// Prometheus's.
func scrape(t *testing.T, admin tlsfiles.Files, addr string) {
	t.Helper()
	conf, err := admin.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	// The member certificate names 127.0.0.1, not the test's own address.
	conf.ServerName = "127.0.0.1"
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 2 * time.Second}
	url := fmt.Sprintf("https://%s/metrics", addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) || (err != nil && !strings.Contains(err.Error(), "connection refused")) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
