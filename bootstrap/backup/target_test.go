package backup_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap/backup"
	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/s3test"
	"github.com/etcdboot/etcdboot/internal/snapshot"
)

// TestRoundsUploadToTheTargetAndPruneThere runs rounds against a real etcd
// with backup.target a directory and a real S3 server: each verified,
// test-restored snapshot lands as a complete backup with its manifest,
// retention keeps the newest two in the target too, a fetch of the newest
// passes every check, and the state file counts the uploads.
func TestRoundsUploadToTheTargetAndPruneThere(t *testing.T) {
	targets := map[string]func(t *testing.T) string{
		"file": func(t *testing.T) string { return "file://" + t.TempDir() },
		"s3": func(t *testing.T) string {
			srv := s3test.Start(t, s3test.Options{})
			srv.SetEnv(t)
			return srv.URL("etcd/demo")
		},
	}
	for _, kind := range []string{"file", "s3"} {
		t.Run(kind, func(t *testing.T) {
			target := targets[kind](t)
			dir := filepath.Join(t.TempDir(), "backups")
			payload, e := member(t, fmt.Sprintf("{retention: 2, dir: %s, target: '%s', testRestore: true}", dir, target))
			cli := e.Client(t)
			defer cli.Close()
			etcdtest.PutKeys(t, cli, 200, 16)
			stateDir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := backup.Run(ctx, backup.Options{PayloadPath: payload, StateDir: stateDir, Endpoint: e.Endpoint, Every: 50 * time.Millisecond, Rounds: 3}); err != nil {
				t.Fatal(err)
			}
			st, err := backup.ReadState(stateDir)
			if err != nil {
				t.Fatal(err)
			}
			last := st.Last
			if st.OK != 3 || st.Uploads != 3 || st.UploadsFailed != 0 || last == nil || last.Upload == nil || !last.Upload.OK ||
				len(last.Upload.Pruned) != 1 || st.LastObject != last.Upload.Name || !st.LastUpload.Equal(st.LastSuccess) {
				t.Fatalf("state %+v, last %+v, upload %+v", st, last, last.Upload)
			}
			store, err := backupstore.Open(ctx, target)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			l, err := store.List(ctx, "demo")
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Backups) != 2 || len(l.Problems) != 0 || l.Backups[0].Name != last.Upload.Name {
				t.Fatalf("target holds %+v, problems %+v; want the newest two, %s first", l.Backups, l.Problems, last.Upload.Name)
			}
			m := l.Backups[0]
			if m.SHA256 != last.SHA256 || m.Revision != last.Revision || m.TotalKeys != 200 || m.Member != "etcd1" ||
				m.ClusterID != last.ClusterID || m.ClusterID == "" || m.EtcdVersion == "" || !m.Verified || !m.TestRestored {
				t.Errorf("manifest %+v; round %+v", m, last)
			}
			dst := filepath.Join(t.TempDir(), "fetched.db")
			if _, info, err := store.Fetch(ctx, m.Name, dst, backupstore.Expect{Cluster: "demo", ClusterID: last.ClusterID}); err != nil || info.TotalKeys != 200 {
				t.Errorf("Fetch = %+v, %v", info, err)
			}
		})
	}
}

// TestUploadToAMissingTargetFailsTheRoundAndKeepsTheSnapshot: a target
// directory that does not exist fails the round with a message naming it;
// the local snapshot stays and the state counts a failed upload, so the
// last success (the alert's clock) does not move.
func TestUploadToAMissingTargetFailsTheRoundAndKeepsTheSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	payload, e := member(t, fmt.Sprintf("{dir: %s, target: 'file:///nonexistent/etcd-backups'}", dir))
	stateDir := t.TempDir()
	r, err := backup.RunRound(context.Background(), backup.Options{PayloadPath: payload, StateDir: stateDir, Endpoint: e.Endpoint})
	if !errors.Is(err, backup.ErrRoundFailed) || !errors.Is(err, backupstore.ErrBucketMissing) || !strings.Contains(err.Error(), "/nonexistent/etcd-backups does not exist") {
		t.Fatalf("RunRound = %v", err)
	}
	if r.Result != backup.ResultFailed || r.Upload == nil || r.Upload.OK || r.Upload.Error == "" {
		t.Errorf("round %+v, upload %+v", r, r.Upload)
	}
	if _, err := snapshot.Status(r.Snapshot); err != nil {
		t.Errorf("the snapshot is not kept: %v", err)
	}
	if st, _ := backup.ReadState(stateDir); st.UploadsFailed != 1 || st.Uploads != 0 || st.Failed != 1 || !st.LastSuccess.IsZero() {
		t.Errorf("state %+v", st)
	}
}
