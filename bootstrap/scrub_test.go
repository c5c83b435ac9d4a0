package bootstrap

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestScrubUserDataCopiesOnceCloudInitFinished(t *testing.T) {
	root := t.TempDir()
	secret := []byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE...\n-----END EC PRIVATE KEY-----\n")
	inst := filepath.Join(root, "var/lib/cloud/instances/i-123")
	files := map[string][]byte{
		"var/lib/cloud/instances/i-123/user-data.txt":    secret,
		"var/lib/cloud/instances/i-123/user-data.txt.i":  secret,
		"var/lib/cloud/instances/i-123/cloud-config.txt": secret,
		"var/lib/cloud/instances/i-123/obj.pkl":          secret,
		"var/lib/cloud/instances/i-123/vendor-data.txt":  []byte("not ours"),
		"var/lib/cloud/seed/nocloud/user-data":           secret,
		"var/lib/cloud/seed/nocloud/meta-data":           []byte("instance-id: i-123\n"),
	}
	for p, data := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// cloud-init still running: nothing is touched.
	if changed, err := ScrubUserDataCopies(root); err != nil || len(changed) != 0 {
		t.Fatalf("before boot-finished: %v, %v", changed, err)
	}
	if err := os.WriteFile(filepath.Join(inst, "boot-finished"), []byte("done\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := ScrubUserDataCopies(root)
	if err != nil || len(changed) != 5 {
		t.Fatalf("scrubbed %v, %v; want the 4 copies and the cache", changed, err)
	}
	for p, data := range files {
		got, err := os.ReadFile(filepath.Join(root, p))
		switch {
		case filepath.Base(p) == "obj.pkl":
			if !os.IsNotExist(err) {
				t.Errorf("%s still exists", p)
			}
		case slices.Equal(data, secret):
			if err != nil || len(got) != 0 {
				t.Errorf("%s: %q, %v; want it empty", p, got, err)
			}
		default:
			if err != nil || !slices.Equal(got, data) {
				t.Errorf("%s changed: %q, %v", p, got, err)
			}
		}
	}
	if changed, err := ScrubUserDataCopies(root); err != nil || len(changed) != 0 {
		t.Errorf("a second scrub changed %v, %v", changed, err)
	}
}

func TestScrubIgnitionCacheOnceIgnitionApplied(t *testing.T) {
	root := t.TempDir()
	cache := filepath.Join(root, ignitionConfigCache)
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cache, []byte(`{"storage":{"files":[{"path":"/etc/etcdboot/pki/peer.key"}]}}`), 0o640); err != nil {
		t.Fatal(err)
	}
	if changed, err := ScrubIgnitionCache(root); changed || err != nil {
		t.Fatalf("before Ignition's result file: %v, %v; want nothing touched", changed, err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ignitionDone), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := ScrubIgnitionCache(root); !changed || err != nil {
		t.Fatalf("after Ignition applied its config: %v, %v; want the cache emptied", changed, err)
	}
	if fi, err := os.Stat(cache); err != nil || fi.Size() != 0 {
		t.Fatalf("cache after the scrub: %v, %v; want it there and empty", fi, err)
	}
	if changed, err := ScrubIgnitionCache(root); changed || err != nil {
		t.Fatalf("again: %v, %v; want nothing to do", changed, err)
	}
}
