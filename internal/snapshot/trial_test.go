package snapshot_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/snapshot"
)

// TestTrialRestoreReadsTheRestoredKeyspace restores a real etcd's snapshot
// into a scratch directory and finds the keys and revision it was taken at;
// the scratch directory is gone afterwards, also when the restore fails.
func TestTrialRestoreReadsTheRestoredKeyspace(t *testing.T) {
	etcdtest.Binary(t, "etcd")
	pki := generatedPKI(t)
	dir := t.TempDir()
	src := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: filepath.Join(dir, "source")})
	cli := src.Client(t)
	defer cli.Close()
	rev := etcdtest.PutKeys(t, cli, 500, 16)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := filepath.Join(dir, "snap.db")
	info, err := snapshot.Save(ctx, snapshot.SaveOptions{Endpoints: []string{src.Endpoint}, TLS: src.TLS, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	scratch := filepath.Join(dir, "scratch")
	if err := os.Mkdir(scratch, 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := snapshot.TrialRestore(out, info.SHA256, scratch)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != rev || got.Revision != info.Revision || got.TotalKeys != 500 || got.TotalKeys != info.TotalKeys {
		t.Errorf("restored revision %d keys %d; snapshot revision %d keys %d, written up to %d", got.Revision, got.TotalKeys, info.Revision, info.TotalKeys, rev)
	}
	if entries, _ := os.ReadDir(scratch); len(entries) != 0 {
		t.Errorf("scratch dir left behind: %v", entries)
	}
	_, err = snapshot.TrialRestore(out, "00"+info.SHA256[2:], scratch)
	if !errors.Is(err, snapshot.ErrSHA256Mismatch) {
		t.Errorf("wrong digest: %v, want ErrSHA256Mismatch", err)
	}
	if entries, _ := os.ReadDir(scratch); len(entries) != 0 {
		t.Errorf("scratch dir left behind after a failure: %v", entries)
	}
}
