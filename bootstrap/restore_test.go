package bootstrap

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/snapshot"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// TestRestoreMemberPlacesADataDirEtcdStartsFrom restores a real etcd's
// snapshot the way the agent does on a restore plan, under a test root, and
// starts etcd on the result: the keys and the revision are back, and the
// data dir is this member's under the new token, so the next boot restarts.
func TestRestoreMemberPlacesADataDirEtcdStartsFrom(t *testing.T) {
	etcdtest.Binary(t, "etcd")
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: "../examples/three-node-static/cluster.yaml", OutDir: out}); err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(out, "pki")
	src := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: filepath.Join(t.TempDir(), "source")})
	cli := src.Client(t)
	rev := etcdtest.PutKeys(t, cli, 1000, 32)
	cli.Close()

	root := t.TempDir()
	const nodeSnapshot = "/var/lib/etcdboot/restore/snapshot.db"
	if err := os.MkdirAll(filepath.Dir(filepath.Join(root, nodeSnapshot)), 0o755); err != nil {
		t.Fatal(err)
	}
	info, err := snapshot.Save(context.Background(), snapshot.SaveOptions{Endpoints: []string{src.Endpoint}, TLS: src.TLS, Output: filepath.Join(root, nodeSnapshot)})
	if err != nil {
		t.Fatal(err)
	}
	src.Stop()

	self := spec.Member{Name: "etcd1", IPs: []string{"127.0.0.1"}}
	payload := func(sum string) *spec.NodePayload {
		return &spec.NodePayload{
			Cluster: "etcd-cluster", Token: "etcd-cluster-restore-" + info.SHA256[:8],
			Node: &self, Members: []spec.Member{self},
			Etcd:    spec.Etcd{DataDir: "/var/lib/etcd", PeerPort: etcdtest.FreePort(t), ClientPort: 2379},
			Restore: &spec.Restore{Snapshot: nodeSnapshot, SHA256: sum},
		}
	}
	dataDir := filepath.Join(root, "var/lib/etcd")

	t.Run("wrong sha256 is refused and leaves no data dir", func(t *testing.T) {
		err := RestoreMember(payload(strings.Repeat("ab", 32)), root, nil, nil)
		if !errors.Is(err, snapshot.ErrSHA256Mismatch) || !strings.Contains(err.Error(), "restore member etcd1") {
			t.Errorf("RestoreMember = %v, want a sha256 mismatch for etcd1", err)
		}
		if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("data dir after a refused restore: %v", err)
		}
	})
	t.Run("a missing snapshot file says where to put it", func(t *testing.T) {
		p := payload(info.SHA256)
		p.Restore.Snapshot = "/nowhere/snapshot.db"
		err := RestoreMember(p, root, nil, nil)
		if err == nil || !strings.Contains(err.Error(), "is not on this node: copy the planned snapshot there") {
			t.Errorf("RestoreMember = %v", err)
		}
	})
	t.Run("a node missing from the peers is refused", func(t *testing.T) {
		err := RestoreMember(payload(info.SHA256), root, []spec.Member{{Name: "etcd2", IPs: []string{"127.0.0.2"}}}, nil)
		if err == nil || !strings.Contains(err.Error(), "not among the peers") {
			t.Errorf("RestoreMember = %v", err)
		}
	})

	p := payload(info.SHA256)
	if err := RestoreMember(p, root, nil, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := InspectDataDir(dataDir, "etcd1", etcdconfig.PeerURLs(self, p.Etcd.PeerPort), p.Token, 0)
	if err != nil || rep.State != DataDirOurs {
		t.Errorf("InspectDataDir of the restored dir = %v %q, %v; the next boot would not restart it", rep.State, rep.Detail, err)
	}
	t.Run("a second restore does not touch the restored dir", func(t *testing.T) {
		err := RestoreMember(p, root, nil, nil)
		if !errors.Is(err, snapshot.ErrDataDirExists) {
			t.Errorf("RestoreMember over a data dir = %v, want ErrDataDirExists", err)
		}
	})

	restored := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: dataDir, PeerPort: p.Etcd.PeerPort})
	rcli := restored.Client(t)
	defer rcli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := rcli.Get(ctx, "/etcdtest/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 1000 || resp.Header.Revision != rev {
		t.Errorf("restored member has %d keys at revision %d, want 1000 at %d", resp.Count, resp.Header.Revision, rev)
	}
}

// TestRestorePlanRebuildsAThreeMemberCluster runs the whole restore by
// reboot: a snapshot of a real etcd, restore payloads from
// generate.RestorePlan for the three-member example, RestoreMember on each
// node's root as the agent does, and three etcds that form one new cluster
// serving the snapshot's keys and revision under the new token.
func TestRestorePlanRebuildsAThreeMemberCluster(t *testing.T) {
	etcdtest.Binary(t, "etcd")
	const example = "../examples/three-node-static/cluster.yaml"
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: example, OutDir: out}); err != nil {
		t.Fatal(err)
	}
	src := etcdtest.Start(t, etcdtest.Member{PKIDir: filepath.Join(out, "pki"), DataDir: filepath.Join(t.TempDir(), "source")})
	cli := src.Client(t)
	rev := etcdtest.PutKeys(t, cli, 500, 32)
	cli.Close()
	snap := filepath.Join(t.TempDir(), "snap.db")
	if _, err := snapshot.Save(context.Background(), snapshot.SaveOptions{Endpoints: []string{src.Endpoint}, TLS: src.TLS, Output: snap}); err != nil {
		t.Fatal(err)
	}
	src.Stop()

	res, err := generate.RestorePlan(generate.RestoreOptions{SpecPath: example, OutDir: out, Snapshot: snap})
	if err != nil {
		t.Fatal(err)
	}
	// The members run side by side here on 127.0.0.51-53 (the spec refuses
	// loopback member addresses), so the payloads' 192.168.2.51-53 move
	// there, and their certificates come from the same CA for those IPs.
	lab := loopbackPKI(t, filepath.Join(out, "pki"))
	toLab := func(ms []spec.Member) []spec.Member {
		var moved []spec.Member
		for _, m := range ms {
			m.IPs = []string{strings.Replace(m.IPs[0], "192.168.2.", "127.0.0.", 1)}
			moved = append(moved, m)
		}
		return moved
	}
	var members []etcdtest.Member
	for _, n := range res.Nodes {
		p, err := spec.LoadNodePayload(filepath.Join(n.Dir, "node.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		p.Members = toLab(p.Members)
		p.Node = &toLab([]spec.Member{*p.Node})[0]
		root := t.TempDir()
		// The operator's copy of out/restore/snapshot.db to the node.
		if err := snapshot.Copy(filepath.Join(out, "restore", "snapshot.db"), filepath.Join(root, p.Restore.Snapshot), p.Restore.SHA256); err != nil {
			t.Fatal(err)
		}
		if err := RestoreMember(p, root, p.Members, nil); err != nil {
			t.Fatal(err)
		}
		members = append(members, etcdtest.Member{
			Name: p.Node.Name, PKIDir: lab, DataDir: filepath.Join(root, p.Etcd.DataDir),
			IP: p.Node.IPs[0], PeerPort: p.Etcd.PeerPort,
		})
	}
	etcds := etcdtest.StartCluster(t, members...)
	rcli := etcds[2].Client(t)
	defer rcli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := rcli.Get(ctx, "/etcdtest/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 500 || resp.Header.Revision != rev {
		t.Errorf("restored cluster has %d keys at revision %d, want 500 at %d", resp.Count, resp.Header.Revision, rev)
	}
	ml, err := rcli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ml.Members) != 3 {
		t.Errorf("restored cluster has %d members, want 3", len(ml.Members))
	}
	for _, m := range ml.Members {
		if want := MemberID(m.PeerURLs, res.Cluster.Token); m.ID != want {
			t.Errorf("member %s has ID %x, want %x from the new token %s", m.Name, m.ID, want, res.Cluster.Token)
		}
	}
}

// loopbackPKI issues, with the CA in pkiDir, member certificates for
// etcd1-3 on 127.0.0.51-53 into a new directory beside the CA and admin
// certificates.
func loopbackPKI(t *testing.T, pkiDir string) string {
	t.Helper()
	ca, err := pki.Dir{Path: pkiDir}.EnsureCA("etcd", pki.KeySpec{Algorithm: spec.KeyRSA, Size: 2048}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	lab := pki.Dir{Path: t.TempDir()}
	for _, f := range []string{"ca.crt", "admin.crt", "admin.key"} {
		data, err := os.ReadFile(filepath.Join(pkiDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(lab.Path, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		name := "etcd" + strconv.Itoa(i)
		server, peer := pki.MemberRequests(name, "", []net.IP{net.IPv4(127, 0, 0, byte(50+i))}, nil, pki.KeySpec{Algorithm: spec.KeyECDSA, Size: 256}, 24*time.Hour)
		for _, req := range []struct {
			suffix string
			req    pki.Request
		}{{"-server", server}, {"-peer", peer}} {
			if _, err := lab.EnsureCert(ca, name+req.suffix, req.req, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	return lab.Path
}
