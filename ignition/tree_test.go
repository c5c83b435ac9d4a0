package ignition

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/etcdboot/etcdboot/spec"
)

func TestWriteTreePlacesPayloadAndFiles(t *testing.T) {
	root := t.TempDir()
	b := Bundle{
		Payload: spec.NodePayload{APIVersion: spec.APIVersion, Cluster: "c"},
		Files: []File{
			{Path: "/etc/etcdboot/pki/ca.crt", Contents: []byte("ca")},
			{Path: "/etc/etcdboot/pki/server.key", Contents: []byte("key"), Secret: true},
		},
	}
	if err := b.WriteTree(root); err != nil {
		t.Fatal(err)
	}
	if _, err := spec.LoadNodePayload(filepath.Join(root, spec.DefaultPayloadPath)); err == nil {
		t.Error("an incomplete payload should not validate, but it must be written")
	}
	if data, err := os.ReadFile(filepath.Join(root, spec.DefaultPayloadPath)); err != nil || len(data) == 0 {
		t.Fatalf("node.yaml: %v", err)
	}
	st, err := os.Stat(filepath.Join(root, "etc/etcdboot/pki/server.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key: %v %v", st, err)
	}
	st, err = os.Stat(filepath.Join(root, "etc/etcdboot/pki/ca.crt"))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("ca: %v %v", st, err)
	}
}
