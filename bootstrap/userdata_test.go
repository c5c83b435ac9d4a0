package bootstrap

import (
	"bytes"
	"compress/gzip"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/ignition"
	"github.com/etcdboot/etcdboot/spec"
)

// TestReadCloudInitReturnsEveryFileRenderCloudInitWrites renders a generated
// member's bundle (real certificates and keys) and reads it back.
func TestReadCloudInitReturnsEveryFileRenderCloudInitWrites(t *testing.T) {
	res, err := generate.Run(generate.Options{SpecPath: exampleSpec, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Nodes[0].Bundle
	data, err := ignition.RenderCloudInit(b)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(data)
	_ = zw.Close()
	want := map[string][]byte{}
	for _, f := range b.Files {
		want[f.Path] = f.Contents
	}
	payload, err := yaml.Marshal(b.Payload)
	if err != nil {
		t.Fatal(err)
	}
	want[spec.DefaultPayloadPath] = payload
	for form, userData := range map[string][]byte{"plain": data, "gzipped": gz.Bytes()} {
		files, err := ReadCloudInit(userData)
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		for path, contents := range want {
			if !bytes.Equal(files[path], contents) {
				t.Errorf("%s: %s = %q, want %q", form, path, files[path], contents)
			}
		}
		// The /etc/hosts fragment appends: not a whole file.
		if _, ok := files["/etc/hosts"]; ok {
			t.Errorf("%s: /etc/hosts returned as a whole file", form)
		}
		if len(files) != len(want) {
			t.Errorf("%s: %d files, want %d", form, len(files), len(want))
		}
	}
	if got := filepath.Join(spec.DefaultTLSDir, "server.key"); want[got] == nil {
		t.Errorf("bundle has no %s: the fixture is not what this test means to read", got)
	}
}

func TestReadCloudInitRefusesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
	}{
		{"shell script", "#!/bin/sh\necho hi\n", "first line must be \"#cloud-config\""},
		{"unknown encoding", "#cloud-config\nwrite_files:\n- path: /etc/x\n  encoding: zstd\n  content: abc\n", `write_files[0] (/etc/x): unknown encoding "zstd"`},
		{"bad base64", "#cloud-config\nwrite_files:\n- path: /etc/x\n  encoding: b64\n  content: '!!'\n", "write_files[0] (/etc/x)"},
		{"no path", "#cloud-config\nwrite_files:\n- content: abc\n", "write_files[0] has no path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCloudInit([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
			if tc.name == "shell script" && !errors.Is(err, ErrNotCloudConfig) {
				t.Errorf("err = %v, want ErrNotCloudConfig", err)
			}
		})
	}
}
