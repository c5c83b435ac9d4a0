package recovery

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/snapshot"
	"github.com/etcdboot/etcdboot/spec"
)

// realSnapshot is a real etcd snapshot: 3 keys at revision 4.
var realSnapshot = filepath.Join("..", "..", "internal", "snapshot", "testdata", "three-keys.db")

// storeWithBackups writes a spec whose backup.target is a file:// store and
// puts two backups of its cluster there, and one of another cluster.
func storeWithBackups(t *testing.T) (specPath, storeDir string, older, newer backupstore.Manifest) {
	t.Helper()
	storeDir = t.TempDir()
	specPath = filepath.Join(t.TempDir(), "cluster.yaml")
	data := "apiVersion: etcdboot/v1\nname: demo\netcd: {version: " + spec.DefaultEtcdVersion + "}\nmembers:\n" +
		"  - {name: etcd1, ips: [10.0.0.11]}\n  - {name: etcd2, ips: [10.0.0.12]}\n  - {name: etcd3, ips: [10.0.0.13]}\n" +
		"backup:\n  target: file://" + storeDir + "\n"
	if err := os.WriteFile(specPath, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := backupstore.Open(ctx, "file://"+storeDir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, err := snapshot.Status(realSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	put := func(cluster string, taken time.Time) backupstore.Manifest {
		m, err := s.Put(ctx, realSnapshot, backupstore.Manifest{Cluster: cluster, Taken: taken, Revision: info.Revision,
			TotalKeys: info.TotalKeys, Hash: info.Hash, Verified: true})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	older, newer = put("demo", t0), put("demo", t0.Add(time.Hour))
	put("other", t0.Add(2*time.Hour))
	return specPath, storeDir, older, newer
}

func TestRestorePlanFromTheStore(t *testing.T) {
	specPath, storeDir, older, newer := storeWithBackups(t)
	for _, tc := range []struct {
		name, from, want string
	}{
		{"latest", Latest, newer.Name},
		{"by name", older.Name, older.Name},
		{"by object URL", "file://" + storeDir + "/" + older.Object, older.Name},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			res, err := RestorePlan(context.Background(), generate.RestoreOptions{SpecPath: specPath, OutDir: out}, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(out, "restore", tc.want+".db")); err != nil {
				t.Errorf("the fetched backup is not in out/restore: %v", err)
			}
			if len(res.Nodes) != 3 || res.Nodes[0].Bundle.Payload.Restore == nil || res.Nodes[0].Bundle.Payload.Restore.SHA256 != newer.SHA256 {
				t.Errorf("payloads %+v: want three restoring the backup (sha256 %s)", res.Nodes, newer.SHA256)
			}
		})
	}
}

func TestRestorePlanFromTheStoreRefusesBadInput(t *testing.T) {
	specPath, storeDir, older, _ := storeWithBackups(t)
	if err := os.Remove(filepath.Join(storeDir, older.Object)); err != nil {
		t.Fatal(err)
	}
	l, _ := func() (backupstore.Listing, error) {
		s, _ := backupstore.Open(context.Background(), "file://"+storeDir)
		defer s.Close()
		return s.List(context.Background(), "")
	}()
	var otherName string
	for _, m := range l.Backups {
		if m.Cluster == "other" {
			otherName = m.Name
		}
	}
	for _, tc := range []struct {
		name, from, snapshot, want string
	}{
		{"a manifest without its object", older.Name, "", "has a manifest but no snapshot object"},
		{"another cluster's backup", otherName, "", `is a backup of cluster "other", not "demo"`},
		{"an URL that names no backup", "file://" + storeDir + "/nothing.txt", "", "names no backup object"},
		{"both a file and --from", Latest, realSnapshot, "one of them"},
		{"neither", "", "", "one of them"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			_, err := RestorePlan(context.Background(), generate.RestoreOptions{SpecPath: specPath, OutDir: out, Snapshot: tc.snapshot}, tc.from)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(out, "nodes")); err == nil {
				t.Error("payloads were written")
			}
		})
	}
}
