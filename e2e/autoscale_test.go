package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
)

// newGroup generates an autoscaling group with seeds at the given hosts and
// starts an instance on each seed at the same moment.
func newGroup(t *testing.T, size int, hosts ...int) *testcluster.Cluster {
	t.Helper()
	c := newCluster(t, testcluster.Options{GroupSize: size, Seeds: hosts})
	for _, h := range hosts {
		if _, err := c.AddNode(h); err != nil {
			t.Fatal(err)
		}
	}
	startHealthy(t, c)
	return c
}

// members returns the member list as seen through the node's endpoint.
func members(t *testing.T, c *testcluster.Cluster, via *testcluster.Node) *clientv3.MemberListResponse {
	t.Helper()
	cli, err := c.Client(via.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatalf("member list via %s: %v", via.Name, err)
	}
	return ml
}

// assertVoters checks the cluster has exactly the named voting members.
func assertVoters(t *testing.T, c *testcluster.Cluster, via *testcluster.Node, want ...string) {
	t.Helper()
	ml := members(t, c, via)
	var got []string
	for _, m := range ml.Members {
		if m.IsLearner {
			t.Errorf("member %s is still a learner", m.Name)
		}
		got = append(got, m.Name)
	}
	if len(got) != len(want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	for _, w := range want {
		if !strings.Contains(strings.Join(got, " "), w) {
			t.Fatalf("members %v, want %v", got, want)
		}
	}
}

func TestGroupFormsExactlyOneClusterWhenAllStartTogether(t *testing.T) {
	rounds := 10
	for round := 1; round <= rounds; round++ {
		t.Run(fmt.Sprint("round-", round), func(t *testing.T) {
			c := newGroup(t, 3, 11, 12, 13)
			var clusterID uint64
			for _, n := range c.Nodes {
				ml := members(t, c, n)
				if len(ml.Members) != 3 {
					t.Fatalf("%s sees %d members", n.Name, len(ml.Members))
				}
				if clusterID != 0 && ml.Header.ClusterId != clusterID {
					t.Fatalf("two clusters formed: %x and %x", clusterID, ml.Header.ClusterId)
				}
				clusterID = ml.Header.ClusterId
			}
			if err := c.Lab.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestGroupReplacesADeadMemberWithANewInstance(t *testing.T) {
	c := newGroup(t, 3, 11, 12, 13)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := 0; i < 100; i++ {
		if err := c.Put(ctx, c.Nodes[0].ClientURL(), fmt.Sprintf("/group/%03d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	dead := c.Nodes[2]
	fresh, err := c.ReplaceNode(dead, 14) // the disk goes with the instance
	if err != nil {
		t.Fatal(err)
	}
	st, _ := fresh.Journal()
	if st.Plan.Action != bootstrap.ActionJoin {
		t.Errorf("replacement plan %+v, want join", st.Plan)
	}
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-14")
	cli, err := c.Client(fresh.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "/group/", clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil || len(resp.Kvs) != 100 {
		t.Fatalf("keys on the replacement: %d, %v", len(resp.Kvs), err)
	}
	// The removed member's address is shut out of the peer port.
	deadline := time.Now().Add(10 * time.Second)
	for tcpOpen(dead.Host, c.Nodes[0].Addr, 2380) {
		if time.Now().After(deadline) {
			t.Fatal("the removed member can still reach a member's peer port")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func TestGroupMemberWithItsDiskRestartsAndARemovedOneRejoins(t *testing.T) {
	c := newGroup(t, 3, 11, 12, 13)
	n := c.Nodes[1]
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := n.StartAgent(); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, _ := n.Journal(); st.Plan.Action != bootstrap.ActionRestart {
		t.Fatalf("reboot with disk: plan %+v, want restart", st.Plan)
	}
	// Removed from the cluster (its data dir stays), then booted again.
	leaveAndRejoin(t, n)
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-13")
}

// TestMemberWhoseDataDiskIsLostIsReplacedNotResumed: a member's etcd disk is
// replaced while its agent's journal (on the root disk) still names its
// member ID. The agent must replace the member with a new ID: coming back
// under the old ID with an empty log crashes etcd ("tocommit(N) is out of
// range [lastIndex(0)]"), which CI saw after a kill shortly after forming.
func TestMemberWhoseDataDiskIsLostIsReplacedNotResumed(t *testing.T) {
	c := newGroup(t, 3, 11, 12, 13)
	n := c.Nodes[1]
	before, err := n.Journal()
	if err != nil || before.MemberID == 0 {
		t.Fatalf("journal before: %+v, %v", before, err)
	}
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	lost := n.DataDir() + ".lost-disk"
	if err := os.Rename(n.DataDir(), lost); err != nil {
		t.Fatal(err)
	}
	if err := n.StartAgent(); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	st, _ := n.Journal()
	if st.Plan.Action != bootstrap.ActionJoin || st.MemberID == before.MemberID {
		t.Fatalf("plan %+v member %x (was %x): want a join under a new member ID", st.Plan, st.MemberID, before.MemberID)
	}
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-13")
}

// TestJoinKilledAtEveryStepConverges kills a joining instance right after
// each journaled step, reruns it, and expects one voting member for it.
func TestJoinKilledAtEveryStepConverges(t *testing.T) {
	c := newGroup(t, 3, 11, 12, 13)
	var joiner *testcluster.Node
	for _, step := range bootstrap.Steps {
		t.Run(string(step), func(t *testing.T) {
			if joiner != nil {
				_ = joiner.Kill()
				c.Remove(joiner) // a new instance with an empty disk, same address
			}
			n, err := c.AddNode(15)
			if err != nil {
				t.Fatal(err)
			}
			joiner = n
			if err := n.StartAgent("--crash-after", string(step)); err != nil {
				t.Fatal(err)
			}
			<-n.Agent.Exited()
			if err := n.StartAgent(); err != nil {
				t.Fatal(err)
			}
			if err := n.WaitHealthy(2 * time.Minute); err != nil {
				t.Fatal(err)
			}
			ml := members(t, c, c.Nodes[0])
			count := 0
			for _, m := range ml.Members {
				if strings.Contains(strings.Join(m.PeerURLs, ","), "10.123.0.15:") {
					count++
					if m.IsLearner {
						t.Errorf("joiner still a learner after step %s", step)
					}
				}
			}
			if count != 1 || len(ml.Members) != 4 {
				t.Fatalf("after a crash at %s: %d entries for the joiner, %d members", step, count, len(ml.Members))
			}
		})
	}
}

func TestScaleInWithLeaveKeepsQuorum(t *testing.T) {
	c := newGroup(t, 5, 11, 12, 13, 14, 15)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, n := range c.Nodes[3:] {
		if out, err := n.Host.Run(ctx, n.LeaveArgv()...); err != nil {
			t.Fatalf("leave %s: %v\n%s", n.Name, err, out)
		}
	}
	// Each left member's `up --exec` ends: its etcd exited on the removal,
	// and the journal says it left, so it does not rerun the boot steps
	// and rejoin as for a member the group removed.
	for _, n := range c.Nodes[3:] {
		select {
		case <-n.Agent.Exited():
		case <-time.After(30 * time.Second):
			t.Fatalf("the agent of %s still runs 30s after its leave (rejoining?):\n%s", n.Name, n.Agent.Tail(20))
		}
	}
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-13")
	// With one of the three down, a leave would leave one healthy of two.
	if err := c.Nodes[2].Kill(); err != nil {
		t.Fatal(err)
	}
	out, err := c.Nodes[1].Host.Run(ctx, c.Nodes[1].LeaveArgv()...)
	if err == nil || !strings.Contains(string(out), "could lose quorum") {
		t.Fatalf("a leave that risks quorum was not refused: %v\n%s", err, out)
	}
	if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/still", "writable"); err != nil {
		t.Fatalf("cluster lost quorum: %v", err)
	}
}

func TestThreeReplacementsAtOnceIntoAGroupThatLostTwo(t *testing.T) {
	c := newGroup(t, 5, 11, 12, 13, 14, 15)
	for _, dead := range []*testcluster.Node{c.Nodes[3], c.Nodes[4]} {
		if err := dead.Kill(); err != nil {
			t.Fatal(err)
		}
		c.Remove(dead)
	}
	// A writer measures availability while the replacements join.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	stop := make(chan struct{})
	longest := make(chan time.Duration, 1)
	go func() {
		cli, err := c.Client(c.Nodes[0].ClientURL(), c.Nodes[1].ClientURL(), c.Nodes[2].ClientURL())
		if err != nil {
			longest <- time.Hour
			return
		}
		defer cli.Close()
		var worst time.Duration
		lastOK := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stop:
				longest <- worst
				return
			case <-time.After(200 * time.Millisecond):
			}
			wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := cli.Put(wctx, fmt.Sprintf("/avail/%d", i), "x")
			wcancel()
			if err == nil {
				lastOK = time.Now()
			} else if gap := time.Since(lastOK); gap > worst {
				worst = gap
			}
		}
	}()
	var fresh []*testcluster.Node
	for _, h := range []int{16, 17, 18} {
		n, err := c.AddNode(h)
		if err != nil {
			t.Fatal(err)
		}
		fresh = append(fresh, n)
	}
	for _, n := range fresh {
		if err := n.StartAgent(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range fresh {
		if err := n.WaitHealthy(3 * time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if worst := <-longest; worst > 5*time.Second {
		t.Errorf("writes failed for %v during the joins: quorum was lost", worst)
	}
	ml := members(t, c, c.Nodes[0])
	for _, m := range ml.Members {
		if m.IsLearner || len(m.ClientURLs) == 0 {
			t.Errorf("member %s (%x) is a learner or never started", m.Name, m.ID)
		}
		if strings.Contains(m.Name, "-14") || strings.Contains(m.Name, "-15") {
			t.Errorf("dead member %s was not replaced", m.Name)
		}
	}
	for _, n := range fresh {
		if !strings.Contains(fmt.Sprint(ml.Members), n.Name) {
			t.Errorf("%s is not a member", n.Name)
		}
	}
}

func TestJoinerPartitionedFromTheLeaderConverges(t *testing.T) {
	c := newGroup(t, 3, 11, 12, 13)
	ml := members(t, c, c.Nodes[0])
	var leader *testcluster.Node
	cli, err := c.Client(c.Nodes[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	st, err := cli.Status(context.Background(), c.Nodes[0].ClientURL())
	cli.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ml.Members {
		if m.ID == st.Leader {
			for _, n := range c.Nodes {
				if n.Name == m.Name {
					leader = n
				}
			}
		}
	}
	if leader == nil {
		t.Fatal("no leader")
	}
	j, err := c.AddNode(14)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.StartAgent(); err != nil {
		t.Fatal(err)
	}
	// Cut the joiner off from the leader as soon as it is a learner.
	deadline := time.Now().Add(time.Minute)
	for {
		if s, err := j.Journal(); err == nil && slices.ContainsFunc(s.Done, func(r bootstrap.StepRecord) bool { return r.Step == bootstrap.StepMembership }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("joiner never reached the membership step")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := j.Host.Block(leader.Addr); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	if err := j.Host.Unblock(leader.Addr); err != nil {
		t.Fatal(err)
	}
	if err := j.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	var clusterID uint64
	for _, n := range c.Nodes {
		ml := members(t, c, n)
		if len(ml.Members) != 4 {
			t.Fatalf("%s sees %d members", n.Name, len(ml.Members))
		}
		if clusterID != 0 && ml.Header.ClusterId != clusterID {
			t.Fatal("split brain: two cluster IDs")
		}
		clusterID = ml.Header.ClusterId
	}
}

// servedSerial is the serial of the certificate n serves on its client port.
func servedSerial(t *testing.T, c *testcluster.Cluster, n *testcluster.Node) (string, error) {
	t.Helper()
	conf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", n.Addr.String()+":2379", conf)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func TestWatchRenewsSelfMintedCertificatesWithoutRestart(t *testing.T) {
	c := newCluster(t, testcluster.Options{GroupSize: 3, Seeds: []int{11, 12, 13}})
	for _, h := range []int{11, 12, 13} {
		if _, err := c.AddNode(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.StartAll("--renew-interval", "1s"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	n := c.Nodes[0]
	pidBefore, _ := os.ReadFile(filepath.Join(n.StateDir(), "etcd.pid"))
	before, err := servedSerial(t, c, n)
	if err != nil {
		t.Fatal(err)
	}
	// The certificate is gone (expired, revoked, lost): watch mints anew.
	for _, f := range []string{"server.crt", "server.key"} {
		if err := os.Remove(filepath.Join(n.Root, "etc/etcdboot/pki", f)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	// Between the loss and the renewal handshakes fail; then the new one.
	for serial, err := servedSerial(t, c, n); err != nil || serial == before; serial, err = servedSerial(t, c, n) {
		if time.Now().After(deadline) {
			t.Fatal("the member still serves the old certificate")
		}
		time.Sleep(250 * time.Millisecond)
	}
	pidAfter, _ := os.ReadFile(filepath.Join(n.StateDir(), "etcd.pid"))
	if string(pidBefore) != string(pidAfter) {
		t.Fatalf("etcd restarted: pid %s -> %s", pidBefore, pidAfter)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Put(ctx, n.ClientURL(), "/renewed", "yes"); err != nil {
		t.Fatal(err)
	}
}
