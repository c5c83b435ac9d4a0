package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/upgrade"
	"github.com/etcdboot/etcdboot/operate/rollout"
)

// ackWriter puts /upgrade/<n> through the cluster every 20 ms while a test
// runs and records every put the cluster acknowledged.
type ackWriter struct {
	mu    sync.Mutex
	acked []string
	tried int
	stop  context.CancelFunc
	done  chan struct{}
}

func startWriter(t *testing.T, c *testcluster.Cluster) *ackWriter {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &ackWriter{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer cli.Close()
		for i := 0; ctx.Err() == nil; i++ {
			if i%25 == 0 {
				followMembers(ctx, cli) // members come and go
			}
			key := fmt.Sprintf("/upgrade/%06d", i)
			pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := cli.Put(pctx, key, "v")
			pcancel()
			w.mu.Lock()
			w.tried++
			if err == nil {
				w.acked = append(w.acked, key)
			}
			w.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(w.halt)
	return w
}

// followMembers points cli at the members the cluster lists now.
func followMembers(ctx context.Context, cli *clientv3.Client) {
	mctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ml, err := cli.MemberList(mctx)
	if err != nil {
		return
	}
	var eps []string
	for _, m := range ml.Members {
		if !m.IsLearner {
			eps = append(eps, m.ClientURLs...)
		}
	}
	if len(eps) > 0 {
		cli.SetEndpoints(eps...)
	}
}

func (w *ackWriter) halt() {
	w.stop()
	<-w.done
}

// checkAcked stops the writer and checks that every acknowledged put is in
// the cluster.
func (w *ackWriter) checkAcked(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	w.halt()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/upgrade/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, kv := range resp.Kvs {
		have[string(kv.Key)] = true
	}
	var lost []string
	for _, k := range w.acked {
		if !have[k] {
			lost = append(lost, k)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d acknowledged puts lost, e.g. %v", len(lost), len(w.acked), lost[:min(5, len(lost))])
	}
	if len(w.acked) < 50 {
		t.Errorf("only %d of %d puts acknowledged: the writer did not run through the upgrade", len(w.acked), w.tried)
	}
	t.Logf("%d of %d puts acknowledged, none lost", len(w.acked), w.tried)
}

// upgradeInPlace restarts each group of nodes' agents onto release at the
// same moment while the old etcd still serves, as a reimaged node's new
// agent would find it, then waits for every restarted node.
func upgradeInPlace(t *testing.T, c *testcluster.Cluster, release string, groups ...[]int) {
	t.Helper()
	for _, g := range groups {
		for _, i := range g {
			c.Nodes[i].EtcdVersion = release
			if err := c.Nodes[i].StartAgent(); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range g {
			if err := c.Nodes[i].WaitHealthy(3 * time.Minute); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// assertOneAtATime checks that every node journaled a finished upgrade to
// release and that no two of them overlapped.
func assertOneAtATime(t *testing.T, c *testcluster.Cluster, release string) {
	t.Helper()
	to := strings.TrimPrefix(release, "v")
	var recs []bootstrap.UpgradeRecord
	for _, n := range c.Nodes {
		st, err := n.Journal()
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(st.Upgrades, func(r bootstrap.UpgradeRecord) bool { return r.To == to && r.Phase == bootstrap.UpgradeDone })
		if i < 0 {
			t.Fatalf("%s journaled no finished upgrade to %s: %+v", n.Name, to, st.Upgrades)
		}
		if st.EtcdVersion != to {
			t.Errorf("%s journal says it last started etcd %s, want %s", n.Name, st.EtcdVersion, to)
		}
		recs = append(recs, st.Upgrades[i])
	}
	slices.SortFunc(recs, func(a, b bootstrap.UpgradeRecord) int { return a.Started.Compare(b.Started) })
	for i := 1; i < len(recs); i++ {
		if recs[i].Started.Before(recs[i-1].Done) {
			t.Errorf("upgrades overlap: %+v started before %+v was done", recs[i], recs[i-1])
		}
	}
}

// waitNoV2Entries waits until no member's WAL replays v2 entries any more
// (upgrade.V2Entries, read while etcd runs).
func waitNoV2Entries(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for _, n := range c.Nodes {
		for {
			v2, err := upgrade.V2Entries(n.DataDir())
			if err == nil && v2 == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still replays %d v2 entries (%v)", n.Name, v2, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// waitClusterMinor waits until the cluster version reaches minor: etcd's
// version monitor raises it a few seconds after the last member runs it.
func waitClusterMinor(t *testing.T, c *testcluster.Cluster, minor int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		v := clusterVersion(t, c)
		if v.Minor == minor {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster version %s, want 3.%d", v, minor)
		}
		time.Sleep(time.Second)
	}
}

// clusterVersion reads the cluster version through the admin client.
func clusterVersion(t *testing.T, c *testcluster.Cluster) upgrade.Version {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	tlsConf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		cl, err := upgrade.ObserveCluster(ctx, cli, tlsConf)
		if err == nil && !cl.Version.IsZero() {
			return cl.Version
		}
		if ctx.Err() != nil {
			t.Fatalf("cluster version: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestInPlaceUpgradeOneMemberAtATime: a 3-member cluster on 3.5.27, with a
// writer running throughout, is upgraded to 3.6.16 and then to 3.7.3 by
// restarting each member's agent onto the newer binary while its old etcd
// still serves, two of them at the same moment. The cluster-wide lock and
// the gate let one member change at a time (the journals' upgrade records
// do not overlap), the leader hands leadership away first, no acknowledged
// put is lost, and the cluster version follows. 3.7 cannot replay the v2
// entries 3.5 wrote: each member waits on 3.6 until a raft snapshot took
// them out of its replay (etcd.snapshotCount is small here so that the
// writer brings one within seconds; the agent refuses 3.7 before that).
func TestInPlaceUpgradeOneMemberAtATime(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3, EtcdVersion: "v3.5.27", SnapshotCount: 100})
	startHealthy(t, c)
	w := startWriter(t, c)
	for _, release := range []string{"v3.6.16", "v3.7.3"} {
		if release == "v3.7.3" {
			waitNoV2Entries(t, c)
		}
		upgradeInPlace(t, c, release, []int{0, 1}, []int{2})
		assertOneAtATime(t, c, release)
		waitClusterMinor(t, c, upgrade.MustParse(strings.TrimPrefix(release, "v")).Minor)
	}
	w.checkAcked(t, c)
	servesAndRuns(t, c, "v3.7.3")
}

// TestUpgradeRefusalsLeaveTheDataDirUntouched: a member whose image skips a
// minor version, one whose image is older than the cluster without a
// downgrade, and a new member two minor versions ahead of the cluster are
// each refused before etcd starts, with the data dir byte for byte as it was.
func TestUpgradeRefusalsLeaveTheDataDirUntouched(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"3.5.27 -> 3.7.3 skips a minor", "v3.5.27", "v3.7.3", "3.6 first"},
		{"3.7.3 -> 3.6.16 without a downgrade", "v3.7.3", "v3.6.16", "downgrade needs etcd's downgrade procedure"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, testcluster.Options{Members: 3, EtcdVersion: tc.from})
			startHealthy(t, c)
			clusterVersion(t, c)        // decided, so the data dir carries it
			time.Sleep(1 * time.Second) // and etcd's backend has committed it
			n := c.Nodes[1]
			if err := n.Kill(); err != nil {
				t.Fatal(err)
			}
			before := treeDigest(t, n.DataDir())
			n.EtcdVersion = tc.to
			out := refusedRun(t, n)
			if !strings.Contains(out, tc.want) {
				t.Errorf("refusal does not say %q:\n%s", tc.want, out)
			}
			if after := treeDigest(t, n.DataDir()); after != before {
				t.Errorf("the data dir changed on a refusal:\nbefore %s\nafter  %s", before, after)
			}
			st, _ := n.Journal()
			if len(st.Upgrades) == 0 || st.Upgrades[len(st.Upgrades)-1].Phase != bootstrap.UpgradeRefused {
				t.Errorf("refusal not journaled: %+v", st.Upgrades)
			}
		})
	}
	t.Run("a new member two minors ahead", func(t *testing.T) {
		c := newGroup35(t)
		n, err := c.AddNode(14)
		if err != nil {
			t.Fatal(err)
		}
		n.EtcdVersion = "v3.7.3"
		out := refusedRun(t, n)
		if !strings.Contains(out, "minor versions ahead") {
			t.Errorf("refusal does not say why:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(n.DataDir(), "member")); err == nil {
			t.Error("a refused joiner wrote a data dir")
		}
	})
}

// newGroup35 is an autoscaling group of three on 3.5.27.
func newGroup35(t *testing.T) *testcluster.Cluster {
	t.Helper()
	c := newCluster(t, testcluster.Options{GroupSize: 3, Seeds: []int{11, 12, 13}, EtcdVersion: "v3.5.27"})
	for _, h := range []int{11, 12, 13} {
		if _, err := c.AddNode(h); err != nil {
			t.Fatal(err)
		}
	}
	startHealthy(t, c)
	return c
}

// refusedRun runs the node's agent to its end and returns its output; the
// agent must fail.
func refusedRun(t *testing.T, n *testcluster.Node) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := n.Host.Run(ctx, n.AgentArgv()...)
	if err == nil {
		t.Fatalf("the agent started etcd %s:\n%s", n.EtcdVersion, out)
	}
	return string(out)
}

// treeDigest is the sha256 of every file under dir, with its path and mode:
// equal digests mean the tree is byte for byte the same.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s %v\n", rel, info.Mode())
		if d.Type().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestUpgradeByReplacement is an instance refresh: a group on 3.6.16 is
// rolled to 3.7.3 under a writer by, one instance at a time, an old member
// leaving (etcdboot-agent leave, as a termination hook runs it) and a new
// instance on the new image joining as a learner and being promoted. The
// new instance takes over the old one's address, as a seed's fixed address
// (an ENI) moves to its replacement: new instances find the group through
// its seeds. The cluster version rises by itself once the last old member
// is gone, and no acknowledged put is lost.
func TestUpgradeByReplacement(t *testing.T) {
	c := newCluster(t, testcluster.Options{GroupSize: 3, Seeds: []int{11, 12, 13}, EtcdVersion: "v3.6.16"})
	for _, h := range []int{11, 12, 13} {
		if _, err := c.AddNode(h); err != nil {
			t.Fatal(err)
		}
	}
	startHealthy(t, c)
	w := startWriter(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for i, old := range slices.Clone(c.Nodes) {
		host := int(old.Addr.As4()[3])
		if out, err := old.Host.Run(ctx, old.LeaveArgv()...); err != nil {
			t.Fatalf("leave %s: %v\n%s", old.Name, err, out)
		}
		if err := old.Kill(); err != nil {
			t.Fatal(err)
		}
		c.Remove(old)
		fresh, err := c.AddNode(host)
		if err != nil {
			t.Fatal(err)
		}
		fresh.EtcdVersion = "v3.7.3"
		if err := fresh.StartAgent(); err != nil {
			t.Fatal(err)
		}
		if err := fresh.WaitHealthy(3 * time.Minute); err != nil {
			t.Fatal(err)
		}
		if v := clusterVersion(t, c); i < 2 && v.Minor != 6 {
			t.Errorf("cluster version %s with old members left, want 3.6", v)
		}
	}
	waitClusterMinor(t, c, 7)
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-13")
	w.checkAcked(t, c)
	servesAndRuns(t, c, "v3.7.3")
}

// TestDowngradeThroughEtcdsProcedure: a 3.7.3 cluster under a writer is
// downgraded to 3.6.16: etcdboot upgrade downgrade runs etcd's downgrade
// validate and enable, then each member's agent is restarted onto the older
// binary; each waits until etcd lowered its storage version, one member at a
// time. No acknowledged put is lost and the cluster version is 3.6.
func TestDowngradeThroughEtcdsProcedure(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3, EtcdVersion: "v3.7.3"})
	startHealthy(t, c)
	w := startWriter(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := rollout.Downgrade(ctx, rollout.Options{Endpoints: c.Endpoints(), TLS: c.AdminTLS()}, "3.6")
	if err != nil {
		t.Fatalf("downgrade enable: %v", err)
	}
	t.Logf("downgrade: %+v", res)
	upgradeInPlace(t, c, "v3.6.16", []int{0, 1, 2})
	assertOneAtATime(t, c, "v3.6.16")
	waitClusterMinor(t, c, 6)
	w.checkAcked(t, c)
	servesAndRuns(t, c, "v3.6.16")
}

// TestUpgradeKilledAtEveryStepConverges: a member's new agent is killed
// right after each step of an in-place upgrade (the decision under the lock,
// the config written, etcd started on the new binary); the next run resumes
// from the journal and the member ends on the new release, while a writer
// loses no acknowledged put.
func TestUpgradeKilledAtEveryStepConverges(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3, EtcdVersion: "v3.6.16"})
	startHealthy(t, c)
	w := startWriter(t, c)
	for i, step := range []bootstrap.Step{bootstrap.StepVersion, bootstrap.StepConfig, bootstrap.StepStart} {
		n := c.Nodes[i]
		n.EtcdVersion = "v3.7.3"
		if err := n.StartAgent("--crash-after", string(step)); err != nil {
			t.Fatal(err)
		}
		<-n.Agent.Exited()
		st, err := n.Journal()
		if err != nil || len(st.Upgrades) == 0 || st.Upgrades[len(st.Upgrades)-1].Phase != bootstrap.UpgradeStarted {
			t.Fatalf("%s killed after %s: upgrades %+v, %v; want one started", n.Name, step, st.Upgrades, err)
		}
		if err := n.StartAgent(); err != nil {
			t.Fatal(err)
		}
		if err := n.WaitHealthy(3 * time.Minute); err != nil {
			t.Fatalf("%s after a kill after %s: %v", n.Name, step, err)
		}
		st, _ = n.Journal()
		if last := st.Upgrades[len(st.Upgrades)-1]; last.Phase != bootstrap.UpgradeDone || last.To != "3.7.3" || st.EtcdVersion != "3.7.3" {
			t.Fatalf("%s after a kill after %s: last upgrade %+v, etcd %s", n.Name, step, last, st.EtcdVersion)
		}
	}
	waitClusterMinor(t, c, 7)
	w.checkAcked(t, c)
}
