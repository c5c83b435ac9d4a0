package bootstrap

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Minted keys must be readable by etcd's user: sameOwner gives them the
// issuer key's owner.
func TestSameOwnerGivesMintedFilesTheIssuerKeysOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	ref, key := filepath.Join(dir, "issuer.key"), filepath.Join(dir, "peer.key")
	for _, f := range []string{ref, key} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(ref, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	if err := sameOwner(ref, key); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 4321 || st.Gid != 4322 || fi.Mode().Perm() != 0o600 {
		t.Errorf("peer.key is %d:%d %v, want 4321:4322 0600", st.Uid, st.Gid, fi.Mode().Perm())
	}
	if err := sameOwner(filepath.Join(dir, "missing"), key); err == nil {
		t.Error("a missing reference file passed")
	}
}
