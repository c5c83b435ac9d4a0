package bootstrap

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"strings"
	"testing"
)

func gzipped(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// FuzzReadCloudInit: user-data handed to `etcdboot-agent certs install`
// never panics the reader and never expands past MaxUserDataSize.
func FuzzReadCloudInit(f *testing.F) {
	plain := []byte("#cloud-config\nwrite_files:\n- path: /etc/etcdboot/node.yaml\n  content: 'node: {name: etcd1}'\n" +
		"- path: /etc/etcd/pki/ca.crt\n  encoding: b64\n  content: " + base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\n")) + "\n" +
		"- path: /etc/hosts\n  append: true\n  content: '10.0.0.1 etcd1'\n")
	f.Add(plain)
	f.Add(gzipped(f, plain))
	f.Add([]byte("#cloud-config\nwrite_files:\n- path: /x\n  encoding: gz+b64\n  content: " + base64.StdEncoding.EncodeToString(gzipped(f, []byte("hello"))) + "\n"))
	f.Add([]byte("#cloud-config\na: &a [*a, *a, *a]\n"))
	f.Fuzz(func(t *testing.T, userData []byte) {
		files, err := ReadCloudInit(userData)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "read cloud-init user-data") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		for path, data := range files {
			if len(data) > MaxUserDataSize {
				t.Fatalf("%s: %d bytes, over the limit", path, len(data))
			}
		}
	})
}

// TestReadCloudInitRefusesGzipBomb: user-data that expands past the limit
// is refused, whole or as one gz+b64 file, without reading it all.
func TestReadCloudInitRefusesGzipBomb(t *testing.T) {
	bomb := gzipped(t, bytes.Repeat([]byte{'A'}, MaxUserDataSize+1))
	whole := gzipped(t, append([]byte("#cloud-config\n# "), bytes.Repeat([]byte{'A'}, MaxUserDataSize)...))
	for name, userData := range map[string][]byte{
		"whole user-data": whole,
		"one file":        []byte("#cloud-config\nwrite_files:\n- path: /etc/etcdboot/node.yaml\n  encoding: gz+b64\n  content: " + base64.StdEncoding.EncodeToString(bomb) + "\n"),
	} {
		_, err := ReadCloudInit(userData)
		if err == nil || !strings.Contains(err.Error(), "expands to more than 16 MiB") {
			t.Errorf("%s (%d bytes gzipped): err = %v, want the size refused", name, len(userData), err)
		}
	}
}
