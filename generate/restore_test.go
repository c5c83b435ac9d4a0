package generate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcdboot/etcdboot/ignition"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/snapshot"
	"github.com/etcdboot/etcdboot/spec"
)

const staticExample = "../examples/three-node-static/cluster.yaml"

// realSnapshot generates the example's PKI into out and saves a snapshot of
// a real etcd running with it.
func realSnapshot(t *testing.T, out string) snapshot.Info {
	t.Helper()
	etcdtest.Binary(t, "etcd")
	if _, err := Run(Options{SpecPath: staticExample, OutDir: out}); err != nil {
		t.Fatal(err)
	}
	src := etcdtest.Start(t, etcdtest.Member{PKIDir: filepath.Join(out, "pki"), DataDir: filepath.Join(t.TempDir(), "source")})
	cli := src.Client(t)
	defer cli.Close()
	etcdtest.PutKeys(t, cli, 100, 16)
	info, err := snapshot.Save(context.Background(), snapshot.SaveOptions{
		Endpoints: []string{src.Endpoint}, TLS: src.TLS, Output: filepath.Join(t.TempDir(), "backup.db"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func readOut(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestRestorePlanWritesRestorePayloads plans a restore into an existing
// output directory: every member's payload names the snapshot and its
// digest under a new, stable token, with the same names, addresses and PKI.
func TestRestorePlanWritesRestorePayloads(t *testing.T) {
	out := t.TempDir()
	info := realSnapshot(t, out)
	caBefore := readOut(t, filepath.Join(out, "pki", "ca.crt"))
	ignBefore := readOut(t, filepath.Join(out, "nodes", "etcd1", "ignition.json"))

	res, err := RestorePlan(RestoreOptions{SpecPath: staticExample, OutDir: out, Snapshot: info.Path})
	if err != nil {
		t.Fatal(err)
	}
	token := "etcd-cluster-restore-" + info.SHA256[:8]
	if res.Cluster.Token != token || RestoreToken("etcd-cluster", info.SHA256) != token {
		t.Errorf("token %q, want %q", res.Cluster.Token, token)
	}
	var names []string
	for _, n := range res.Nodes {
		names = append(names, n.Name)
		p, err := spec.LoadNodePayload(filepath.Join(n.Dir, "node.yaml"))
		if err != nil {
			t.Fatalf("node %s: %v", n.Name, err)
		}
		if p.Restore == nil || p.Restore.Snapshot != DefaultNodeSnapshotPath || p.Restore.SHA256 != info.SHA256 {
			t.Errorf("node %s: restore %+v, want %s with sha256 %s", n.Name, p.Restore, DefaultNodeSnapshotPath, info.SHA256)
		}
		if p.Token != token || p.Node.Name != n.Name || len(p.Members) != 3 {
			t.Errorf("node %s: token %q, node %v, %d members", n.Name, p.Token, p.Node, len(p.Members))
		}
		bu := readOut(t, filepath.Join(n.Dir, "config.bu"))
		if !bytes.Contains(bu, []byte("sha256: "+info.SHA256)) || !bytes.Contains(bu, []byte("token: "+token)) {
			t.Errorf("node %s: config.bu carries no restore payload", n.Name)
		}
		if err := ignition.ValidateIgnition(readOut(t, filepath.Join(n.Dir, "ignition.json"))); err != nil {
			t.Errorf("node %s: %v", n.Name, err)
		}
		if !bytes.HasPrefix(readOut(t, filepath.Join(n.Dir, "user-data")), []byte("#cloud-config")) {
			t.Errorf("node %s: user-data is not cloud-config", n.Name)
		}
	}
	if !slices.Equal(names, []string{"etcd1", "etcd2", "etcd3"}) {
		t.Errorf("nodes %v", names)
	}
	if bytes.Equal(ignBefore, readOut(t, filepath.Join(out, "nodes", "etcd1", "ignition.json"))) {
		t.Error("ignition.json was not rewritten with the restore")
	}
	if !bytes.Equal(caBefore, readOut(t, filepath.Join(out, "pki", "ca.crt"))) {
		t.Error("the restore plan replaced the CA")
	}
	copied := filepath.Join(out, "restore", "snapshot.db")
	if st, err := snapshot.Status(copied); err != nil || st.SHA256 != info.SHA256 {
		t.Errorf("out/restore/snapshot.db: %+v, %v", st, err)
	}
	if sum := readOut(t, copied+".sha256"); string(sum) != info.SHA256+"  snapshot.db\n" {
		t.Errorf("snapshot.db.sha256 = %q", sum)
	}
	for _, f := range []string{"restore/snapshot.db", "restore/snapshot.db.sha256", "nodes/etcd1/node.yaml"} {
		if n := countFile(res.Files, f); n != 1 {
			t.Errorf("Files lists %s %d times", f, n)
		}
	}
	if s := res.RestoreSummary(); !strings.Contains(s, "token: "+token) || !strings.Contains(s, DefaultNodeSnapshotPath) {
		t.Errorf("summary:\n%s", s)
	}

	t.Run("the same snapshot plans the same token", func(t *testing.T) {
		again, err := RestorePlan(RestoreOptions{SpecPath: staticExample, OutDir: out, Snapshot: copied, NodeSnapshotPath: "/srv/snap.db"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := spec.LoadNodePayload(filepath.Join(out, "nodes", "etcd2", "node.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if again.Cluster.Token != token || p.Restore.Snapshot != "/srv/snap.db" {
			t.Errorf("token %q, snapshot path %q", again.Cluster.Token, p.Restore.Snapshot)
		}
	})
	t.Run("a corrupt snapshot is refused before anything is written", func(t *testing.T) {
		data := readOut(t, info.Path)
		data[len(data)/2] ^= 0x01
		bad := filepath.Join(t.TempDir(), "bad.db")
		if err := os.WriteFile(bad, data, 0o600); err != nil {
			t.Fatal(err)
		}
		before := readOut(t, filepath.Join(out, "nodes", "etcd3", "node.yaml"))
		_, err := RestorePlan(RestoreOptions{SpecPath: staticExample, OutDir: out, Snapshot: bad})
		if err == nil || !strings.Contains(err.Error(), "is corrupt") {
			t.Errorf("RestorePlan = %v, want the snapshot refused as corrupt", err)
		}
		if !bytes.Equal(before, readOut(t, filepath.Join(out, "nodes", "etcd3", "node.yaml"))) {
			t.Error("a refused plan rewrote a payload")
		}
	})
	t.Run("an autoscaling group is refused", func(t *testing.T) {
		_, err := RestorePlan(RestoreOptions{SpecPath: "../examples/autoscaling/cluster.yaml", OutDir: t.TempDir(), Snapshot: info.Path})
		if err == nil || !strings.Contains(err.Error(), "lists no members") {
			t.Errorf("RestorePlan = %v", err)
		}
	})
}

func countFile(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
