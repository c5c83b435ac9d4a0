package bootstrap

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"
)

// ErrNotCloudConfig means user-data is not a #cloud-config document.
var ErrNotCloudConfig = errors.New("not a #cloud-config user-data")

// ReadCloudInit decodes the files a #cloud-config writes (write_files, with
// plain, base64 or gzip+base64 content; the whole user-data may be gzipped)
// into path -> contents: the inverse of ignition.RenderCloudInit for
// node.yaml and the certificates and keys. Appending entries (the /etc/hosts
// fragment) are left out, as they are not whole files. It lives here, not in
// package ignition, so that the agent does not link Butane and Ignition.
func ReadCloudInit(userData []byte) (map[string][]byte, error) {
	const header = "#cloud-config\n"
	if bytes.HasPrefix(userData, []byte{0x1f, 0x8b}) {
		var err error
		if userData, err = gunzip(userData); err != nil {
			return nil, fmt.Errorf("read cloud-init user-data: gzip: %w", err)
		}
	}
	if !bytes.HasPrefix(userData, []byte(header)) {
		return nil, fmt.Errorf("read cloud-init user-data: %w: the first line must be %q", ErrNotCloudConfig, header[:len(header)-1])
	}
	var cfg struct {
		WriteFiles []struct {
			Path     string `yaml:"path"`
			Encoding string `yaml:"encoding"`
			Append   bool   `yaml:"append"`
			Content  string `yaml:"content"`
		} `yaml:"write_files"`
	}
	if err := yaml.Unmarshal(userData, &cfg); err != nil {
		return nil, fmt.Errorf("read cloud-init user-data: %w", err)
	}
	files := make(map[string][]byte, len(cfg.WriteFiles))
	for i, f := range cfg.WriteFiles {
		if f.Append {
			continue
		}
		if f.Path == "" {
			return nil, fmt.Errorf("read cloud-init user-data: write_files[%d] has no path", i)
		}
		data, err := decodeContent(f.Encoding, f.Content)
		if err != nil {
			return nil, fmt.Errorf("read cloud-init user-data: write_files[%d] (%s): %w", i, f.Path, err)
		}
		files[f.Path] = data
	}
	return files, nil
}

// MaxUserDataSize bounds what gzip user-data or a gzip file in it may
// expand to. Clouds cap user-data at 16 KiB to 64 KiB compressed; a node's
// payload with its certificates is a few KiB. A gzip bomb stops here.
const MaxUserDataSize = 16 << 20

// gunzip expands data, refusing more than MaxUserDataSize bytes.
func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxUserDataSize+1))
	if err != nil {
		return nil, err
	}
	if len(out) > MaxUserDataSize {
		return nil, fmt.Errorf("it expands to more than %d MiB; user-data this large is not a node payload", MaxUserDataSize>>20)
	}
	return out, nil
}

// decodeContent undoes a write_files encoding, as cloud-init names them.
func decodeContent(encoding, content string) ([]byte, error) {
	switch encoding {
	case "", "text/plain":
		return []byte(content), nil
	case "b64", "base64":
		return base64.StdEncoding.DecodeString(content)
	case "gz+b64", "gz+base64", "gzip+b64", "gzip+base64":
		gz, err := base64.StdEncoding.DecodeString(content)
		if err != nil {
			return nil, err
		}
		return gunzip(gz)
	}
	return nil, fmt.Errorf("unknown encoding %q; cloud-init knows b64 and gz+b64", encoding)
}
