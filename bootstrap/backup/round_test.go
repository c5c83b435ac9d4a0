package backup_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap/backup"
	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/snapshot"
)

// member starts one real etcd with the three-node example's etcd1
// certificates and writes a node payload for it whose backup section is
// backupYAML (a flow mapping); it returns the payload path and the member.
func member(t *testing.T, backupYAML string) (string, *etcdtest.Etcd) {
	t.Helper()
	etcdtest.Binary(t, "etcd")
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(t), OutDir: out}); err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(out, "pki")
	e := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: filepath.Join(t.TempDir(), "etcd1")})
	payload := fmt.Sprintf(`apiVersion: etcdboot/v1
cluster: demo
token: demo
node: {name: etcd1, ips: [192.168.2.51]}
members: [{name: etcd1, ips: [192.168.2.51]}]
etcd: {version: 3.6.16, dataDir: /var/lib/etcd, configFormat: yaml, clientPort: 2379, peerPort: 2380, metricsPort: 2381}
discovery: {mode: static}
tls: {caFile: %[1]s/ca.crt, serverCertFile: %[1]s/etcd1-server.crt, serverKeyFile: %[1]s/etcd1-server.key, peerCertFile: %[1]s/etcd1-peer.crt, peerKeyFile: %[1]s/etcd1-peer.key}
backup: %[2]s
`, pki, backupYAML)
	path := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(path, []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, e
}

// TestRoundsWriteVerifyPruneUploadAndTestRestore runs timed rounds against a
// real etcd: retention prunes to the newest two, each kept snapshot verifies,
// the trial restores match, the upload command got every file, and the state
// file counts the rounds.
func TestRoundsWriteVerifyPruneUploadAndTestRestore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	uploaded := t.TempDir()
	hook := fmt.Sprintf(`[/bin/sh, -c, 'cp "$ETCDBOOT_BACKUP_FILE" %[1]s/ && echo "$ETCDBOOT_BACKUP_SHA256 $ETCDBOOT_BACKUP_REVISION $ETCDBOOT_BACKUP_KEYS" >> %[1]s/log']`, uploaded)
	payload, e := member(t, fmt.Sprintf("{interval: 1m, retention: 2, dir: %s, upload: %s, testRestore: true}", dir, hook))
	cli := e.Client(t)
	defer cli.Close()
	etcdtest.PutKeys(t, cli, 300, 16)
	// A file of someone else's in the target dir is never pruned.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keep-me.db"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := backup.Run(ctx, backup.Options{PayloadPath: payload, StateDir: stateDir, Endpoint: e.Endpoint, Every: 50 * time.Millisecond, Rounds: 4})
	if err != nil {
		t.Fatal(err)
	}
	st, err := backup.ReadState(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.OK != 4 || st.Failed != 0 || st.Skipped != 0 || st.Last == nil {
		t.Fatalf("state %+v", st)
	}
	last := st.Last
	if last.Member != "etcd1" || last.Reason != "member etcd1 is the leader" || !last.Uploaded || len(last.Pruned) != 1 {
		t.Errorf("last round %+v", last)
	}
	if tr := last.TrialRestore; tr == nil || !tr.Match || tr.Revision != last.Revision || tr.TotalKeys != 300 {
		t.Errorf("trial restore %+v, snapshot revision %d", tr, last.Revision)
	}
	entries, _ := os.ReadDir(dir)
	var snaps []string
	for _, en := range entries {
		if _, ok := backup.ParseName("demo", en.Name()); ok {
			snaps = append(snaps, en.Name())
		}
	}
	if len(snaps) != 2 || len(entries) != 5 || st.LastSnapshot != filepath.Join(dir, snaps[1]) {
		t.Fatalf("target dir holds %v; want 2 snapshots, their .sha256 and keep-me.db; newest %s", entries, st.LastSnapshot)
	}
	for _, s := range snaps {
		info, err := snapshot.Status(filepath.Join(dir, s))
		if err != nil || info.TotalKeys != 300 {
			t.Errorf("%s: %+v %v", s, info, err)
		}
		if _, err := os.Stat(filepath.Join(uploaded, s)); err != nil {
			t.Errorf("upload command did not receive %s: %v", s, err)
		}
	}
	log, _ := os.ReadFile(filepath.Join(uploaded, "log"))
	if lines := strings.Split(strings.TrimSpace(string(log)), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[3], last.SHA256+" ") || !strings.HasSuffix(lines[3], " 300") {
		t.Errorf("upload environment log:\n%s", log)
	}
}

// TestFailedUploadFailsTheRoundAndKeepsTheSnapshot: the round exits with an
// error naming the command and its output; the state counts a failure.
func TestFailedUploadFailsTheRoundAndKeepsTheSnapshot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	payload, e := member(t, fmt.Sprintf("{dir: %s, upload: [/bin/sh, -c, 'echo bucket is gone >&2; exit 3']}", dir))
	stateDir := t.TempDir()
	r, err := backup.RunRound(context.Background(), backup.Options{PayloadPath: payload, StateDir: stateDir, Endpoint: e.Endpoint})
	if !errors.Is(err, backup.ErrRoundFailed) || !strings.Contains(err.Error(), "upload command /bin/sh") || !strings.Contains(err.Error(), "bucket is gone") {
		t.Fatalf("RunRound = %v", err)
	}
	if r.Result != backup.ResultFailed || r.Snapshot == "" {
		t.Errorf("round %+v", r)
	}
	if _, err := snapshot.Status(r.Snapshot); err != nil {
		t.Errorf("the snapshot is not kept: %v", err)
	}
	if st, _ := backup.ReadState(stateDir); st.Failed != 1 || st.OK != 0 || !st.LastSuccess.IsZero() {
		t.Errorf("state %+v", st)
	}
}

// TestMemberThatIsNotUpFailsClearly: a round while etcd is down says so.
func TestMemberThatIsNotUpFailsClearly(t *testing.T) {
	payload, e := member(t, "{dir: /nonexistent-backups}")
	e.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := backup.RunRound(ctx, backup.Options{PayloadPath: payload, StateDir: t.TempDir(), Endpoint: e.Endpoint})
	if err == nil || !strings.Contains(err.Error(), "is etcd running?") {
		t.Fatalf("RunRound = %v", err)
	}
}
