package snapshot_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/snapshot"
)

// generatedPKI runs the generator on the three-node example and returns its
// out/pki: member certificates that name 127.0.0.1, and the admin client.
func generatedPKI(tb testing.TB) string {
	tb.Helper()
	out := tb.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(tb), OutDir: out}); err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(out, "pki")
}

func fileDigest(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func copyWith(t *testing.T, src, name string, change func([]byte) []byte) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, change(bytes.Clone(data)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const testKeys = 10000

// TestSnapshotOfRealEtcd takes a snapshot of a real etcd holding 10,000 keys
// over mTLS, checks what Status reads from it against the server, refuses
// damaged copies, and restores it into a data dir a new etcd serves the
// same keys and revision from.
func TestSnapshotOfRealEtcd(t *testing.T) {
	etcdtest.Binary(t, "etcd")
	pki := generatedPKI(t)
	dir := t.TempDir()
	src := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: filepath.Join(dir, "source")})
	cli := src.Client(t)
	defer cli.Close()
	rev := etcdtest.PutKeys(t, cli, testKeys, 64)
	srcStatus, err := cli.Status(context.Background(), src.Endpoint)
	if err != nil {
		t.Fatal(err)
	}

	backups := filepath.Join(dir, "backups")
	if err := os.Mkdir(backups, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(backups, "snap.db")
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The first endpoint answers nothing: Save takes the next.
	dead := "https://127.0.0.1:" + strconv.Itoa(etcdtest.FreePort(t))
	info, err := snapshot.Save(ctx, snapshot.SaveOptions{Endpoints: []string{dead, src.Endpoint}, TLS: src.TLS, Output: out, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("status matches the server", func(t *testing.T) {
		if info.Revision != rev || info.Revision != srcStatus.Header.Revision {
			t.Errorf("revision %d, the server wrote up to %d and reports %d", info.Revision, rev, srcStatus.Header.Revision)
		}
		if info.TotalKeys != testKeys {
			t.Errorf("total keys %d, want %d", info.TotalKeys, testKeys)
		}
		if info.SHA256 != fileDigest(t, out) || info.Path != out {
			t.Errorf("info %+v does not describe %s (sha256 %s)", info, out, fileDigest(t, out))
		}
		if info.Version == "" || info.Hash == 0 || info.TotalSize == 0 {
			t.Errorf("info %+v lacks etcdutl's fields", info)
		}
		again, err := snapshot.Status(out)
		if err != nil || again != info {
			t.Errorf("Status = %+v, %v; Save said %+v", again, err, info)
		}
	})
	t.Run("writes a sha256sum file and no temporary files", func(t *testing.T) {
		data, err := os.ReadFile(out + ".sha256")
		if err != nil || string(data) != info.SHA256+"  snap.db\n" {
			t.Errorf("snap.db.sha256 = %q, %v", data, err)
		}
		entries, _ := os.ReadDir(backups)
		if len(entries) != 2 {
			t.Errorf("backups dir holds %v, want snap.db and snap.db.sha256", entries)
		}
		if progress.Len() != 0 {
			t.Errorf("progress written to a non-terminal: %q", progress.String())
		}
	})
	t.Run("refuses a truncated copy", func(t *testing.T) {
		for name, cut := range map[string]func([]byte) []byte{
			"half":     func(b []byte) []byte { return b[:len(b)/2] },
			"one page": func(b []byte) []byte { return append(b[:len(b)-32-4096], b[len(b)-32:]...) },
		} {
			p := copyWith(t, out, "truncated.db", cut)
			_, err := snapshot.Status(p)
			if !errors.Is(err, snapshot.ErrTruncated) || !strings.Contains(err.Error(), "snapshot "+p+" is truncated") {
				t.Errorf("%s: Status = %v, want a truncated error naming the file", name, err)
			}
		}
	})
	t.Run("refuses a bit-flipped copy", func(t *testing.T) {
		p := copyWith(t, out, "flipped.db", func(b []byte) []byte { b[len(b)/2] ^= 1; return b })
		_, err := snapshot.Status(p)
		if !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "snapshot "+p+" is corrupt") {
			t.Errorf("Status = %v, want a corrupt error naming the file", err)
		}
		// Even named by its own digest, the check of etcd's appended hash
		// (Restore's own, in the same read as the sha256) refuses it.
		err = snapshot.Restore(restoreOptions(p, fileDigest(t, p), filepath.Join(t.TempDir(), "data"), 0))
		if !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "but etcd appended") {
			t.Errorf("Restore of a bit-flipped snapshot = %v, want etcd's hash check to refuse it", err)
		}
	})
	t.Run("refuses a wrong sha256", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		wrong := strings.Repeat("0", 64)
		err := snapshot.Restore(restoreOptions(out, wrong, data, 0))
		if !errors.Is(err, snapshot.ErrSHA256Mismatch) || !strings.Contains(err.Error(), info.SHA256) || !strings.Contains(err.Error(), wrong) {
			t.Errorf("Restore = %v, want a mismatch naming both digests", err)
		}
		if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused restore left %s: %v", data, err)
		}
	})
	t.Run("refuses a data dir that holds something", func(t *testing.T) {
		data := t.TempDir()
		keep := filepath.Join(data, "keep")
		if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := snapshot.Restore(restoreOptions(out, info.SHA256, data, 0))
		if !errors.Is(err, snapshot.ErrDataDirExists) {
			t.Errorf("Restore = %v, want ErrDataDirExists", err)
		}
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("restore touched the existing data dir: %v", err)
		}
	})
	t.Run("restore serves the same keys at the same revision", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "restored")
		peerPort := etcdtest.FreePort(t)
		if err := snapshot.Restore(restoreOptions(out, strings.ToUpper(info.SHA256), data, peerPort)); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(filepath.Dir(data))
		if len(entries) != 1 {
			t.Errorf("restore left %v beside the data dir", entries)
		}
		restored := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: data, PeerPort: peerPort, Token: "ignored-for-a-restored-dir"})
		rcli := restored.Client(t)
		defer rcli.Close()
		checkKeys(t, rcli, rev)
		ml, err := rcli.MemberList(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(ml.Members) != 1 || ml.Members[0].Name != "etcd1" || ml.Members[0].PeerURLs[0] != etcdtest.PeerURL(peerPort) {
			t.Errorf("members %v, want etcd1 at %s", ml.Members, etcdtest.PeerURL(peerPort))
		}
		if ml.Header.ClusterId == srcStatus.Header.ClusterId {
			t.Errorf("the restored cluster kept the old cluster ID %x despite a new token", ml.Header.ClusterId)
		}
	})
}

func restoreOptions(snap, sum, dataDir string, peerPort int) snapshot.RestoreOptions {
	peer := etcdtest.PeerURL(peerPort)
	return snapshot.RestoreOptions{
		Snapshot: snap, SHA256: sum, Name: "etcd1",
		InitialCluster: "etcd1=" + peer, InitialClusterToken: "restored-token",
		InitialAdvertisePeerURLs: []string{peer}, DataDir: dataDir,
	}
}

// checkKeys reads every key PutKeys wrote and wants the revision unchanged.
func checkKeys(t *testing.T, cli *clientv3.Client, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/etcdtest/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != testKeys {
		t.Fatalf("read back %d keys, want %d", len(resp.Kvs), testKeys)
	}
	for i, kv := range resp.Kvs {
		if string(kv.Key) != etcdtest.Key(i) || string(kv.Value) != etcdtest.Value(i, 64) {
			t.Fatalf("key %d is %s=%q", i, kv.Key, kv.Value)
		}
	}
	if resp.Header.Revision != rev {
		t.Errorf("revision after restore %d, want %d", resp.Header.Revision, rev)
	}
}
