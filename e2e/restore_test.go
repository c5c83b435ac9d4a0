package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/snapshot"
)

// writeKeys writes n keys in batches of 100 per transaction.
func writeKeys(t *testing.T, cli *clientv3.Client, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := 0; i < n; i += 100 {
		var ops []clientv3.Op
		for j := i; j < i+100 && j < n; j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("%s%05d", prefix, j), "value"))
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDisasterRestoreByReboot(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3})
	startHealthy(t, c)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, cli, "/restore/", 10000)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	head, err := cli.Get(ctx, "/restore/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	cli.Close()
	if err != nil || head.Count != 10000 {
		t.Fatalf("count before: %v %v", head, err)
	}
	snapPath := filepath.Join(t.TempDir(), "backup.db")
	info, err := snapshot.Save(ctx, snapshot.SaveOptions{Endpoints: c.Endpoints()[:1], TLS: c.AdminTLS(), Output: snapPath})
	if err != nil {
		t.Fatal(err)
	}
	if info.Revision != head.Header.Revision || info.TotalKeys < 10000 {
		t.Fatalf("snapshot status %+v, cluster revision %d", info, head.Header.Revision)
	}
	// A truncated and a bit-flipped copy are refused.
	data, _ := os.ReadFile(snapPath)
	for name, bad := range map[string][]byte{"truncated": data[:len(data)/2], "flipped": flipBit(data, len(data)/3)} {
		p := filepath.Join(t.TempDir(), name+".db")
		_ = os.WriteFile(p, bad, 0o600)
		if _, err := snapshot.Status(p); err == nil || !strings.Contains(err.Error(), name[:7]) && !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("%s snapshot: %v", name, err)
		}
	}

	// Disaster: every member dies and its WAL is destroyed.
	for _, n := range c.Nodes {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(n.DataDir(), "member", "wal")); err != nil {
			t.Fatal(err)
		}
	}
	res, err := generate.RestorePlan(generate.RestoreOptions{SpecPath: filepath.Join(filepath.Dir(c.Out), "cluster.yaml"), OutDir: c.Out, Snapshot: snapPath})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range c.Nodes {
		if err := res.Nodes[i].Bundle.WriteTree(n.Root); err != nil {
			t.Fatal(err)
		}
		copyFile(t, snapPath, filepath.Join(n.Root, generate.DefaultNodeSnapshotPath))
	}
	// One member given a different snapshot refuses and says why.
	odd := c.Nodes[2]
	other := filepath.Join(odd.Root, generate.DefaultNodeSnapshotPath)
	_ = os.WriteFile(other, flipBit(data, 100), 0o600)
	out, err := odd.Host.Run(ctx, odd.AgentArgv()...)
	if err == nil || !strings.Contains(string(out), "sha256") {
		t.Fatalf("a member with another snapshot started: %v\n%s", err, out)
	}
	copyFile(t, snapPath, other)

	startHealthy(t, c)
	cli, err = c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	after, err := cli.Get(ctx, "/restore/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || after.Count != 10000 || after.Header.Revision < info.Revision {
		t.Fatalf("after restore: count %d revision %d (snapshot revision %d): %v", after.Count, after.Header.Revision, info.Revision, err)
	}
	for _, n := range c.Nodes {
		st, err := n.Journal()
		if err != nil {
			t.Fatal(err)
		}
		if st.Plan.Action != bootstrap.ActionRestore || len(st.MovedAside) == 0 {
			t.Errorf("%s: plan %+v moved aside %v", n.Name, st.Plan, st.MovedAside)
			continue
		}
		if _, err := os.Stat(filepath.Join(st.MovedAside[len(st.MovedAside)-1], "member", "snap", "db")); err != nil {
			t.Errorf("%s: the old data dir is not kept: %v", n.Name, err)
		}
	}
	// A reboot after the restore restarts; it does not restore again.
	n := c.Nodes[0]
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := n.StartAgent(); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitHealthy(time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, _ := n.Journal(); st.Plan.Action != bootstrap.ActionRestart {
		t.Errorf("reboot after restore: plan %+v", st.Plan)
	}
}

func flipBit(data []byte, at int) []byte {
	out := append([]byte(nil), data...)
	out[at] ^= 0x10
	return out
}
