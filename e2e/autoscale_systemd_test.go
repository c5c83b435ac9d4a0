package e2e

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
)

// TestHealthGateProcessPromotesTheLearner joins the way a systemd node does:
// `up` adds the learner and writes etcd's config, then exits; etcd starts on
// its own (etcd.service); `etcdboot-agent ready`, a process of its own
// (etcd.service's ExecStartPost), must promote the learner from the
// journal alone before it answers ready.
func TestHealthGateProcessPromotesTheLearner(t *testing.T) {
	c := newGroup(t, 3, 11, 12, 13)
	n, err := c.AddNode(14)
	if err != nil {
		t.Fatal(err)
	}
	startLearnerLikeSystemd(t, c, n)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := n.Host.Run(ctx, readyArgv(c, n)...); err != nil {
		t.Fatalf("etcdboot-agent ready: %v\n%s", err, out)
	}
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-13", "etcd-10-123-0-14")
	if st, err := n.Journal(); err != nil || st.MemberID == 0 || !slices.ContainsFunc(st.Done, func(r bootstrap.StepRecord) bool { return r.Step == bootstrap.StepHealthy }) {
		t.Errorf("journal after ready: %+v, %v", st, err)
	}
}

// TestJoinerWaitsForAnotherLearnersPromotion: under systemd a joiner's lock
// ends with its `up` process, so the next joiner can find its learner not
// promoted yet; etcd admits one learner at a time. The next joiner waits
// for the promotion instead of failing.
func TestJoinerWaitsForAnotherLearnersPromotion(t *testing.T) {
	c := newGroup(t, 5, 11, 12, 13)
	joinTwoTheSystemdWay(t, c, 14, 15)
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-13", "etcd-10-123-0-14", "etcd-10-123-0-15")
}

// TestASlowLearnerIsNotTakenForACrashedJoiners: under systemd `up` adds
// the learner and exits, and etcd.service starts etcd 15 s later (a slow
// disk, a slow image). A second joiner arriving meanwhile finds a learner
// that does not answer; its joiner's claim is alive (kept by `up`, then by
// `ready`), so the second joiner waits for its promotion instead of
// removing it as a crashed joiner's, and both end up voters.
func TestASlowLearnerIsNotTakenForACrashedJoiners(t *testing.T) {
	c := newGroup(t, 5, 11, 12, 13)
	first, err := c.AddNode(14)
	if err != nil {
		t.Fatal(err)
	}
	upLikeSystemd(t, first)
	st, _ := first.Journal()
	second, err := c.AddNode(15)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.StartAgent(); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, second, "still a learner", 30*time.Second)
	time.Sleep(15 * time.Second) // etcd.service starts late
	startEtcdService(t, c, first)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := first.Host.Run(ctx, readyArgv(c, first)...); err != nil {
		t.Fatalf("etcdboot-agent ready of the slow learner: %v\n%s", err, out)
	}
	if err := second.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if after, _ := first.Journal(); after.MemberID != st.MemberID {
		t.Errorf("the slow learner was replaced: member %x, was %x", after.MemberID, st.MemberID)
	}
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-13", "etcd-10-123-0-14", "etcd-10-123-0-15")
}

// TestSystemdJoinersReplaceEveryDeadMember: a full group of 5 loses 2, and
// two replacements join the systemd way, the second while the first is a
// learner not yet promoted. The second must wait for that promotion before
// it decides which dead voter to replace: it counts voters, and a learner
// is none. Each dead member is replaced; none stays behind.
func TestSystemdJoinersReplaceEveryDeadMember(t *testing.T) {
	c := newGroup(t, 5, 11, 12, 13, 14, 15)
	for _, dead := range slices.Clone(c.Nodes[3:]) {
		if err := dead.Kill(); err != nil {
			t.Fatal(err)
		}
		c.Remove(dead)
	}
	joinTwoTheSystemdWay(t, c, 16, 17)
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-13", "etcd-10-123-0-16", "etcd-10-123-0-17")
}

// joinTwoTheSystemdWay starts a joiner at firstHost the systemd way (its
// learner runs, not promoted), then a joiner at secondHost, which takes the
// lock once the first's session expires and must wait for the first's
// promotion, not fail; then the first's health gate runs, and the second
// must come up.
func joinTwoTheSystemdWay(t *testing.T, c *testcluster.Cluster, firstHost, secondHost int) {
	t.Helper()
	first, err := c.AddNode(firstHost)
	if err != nil {
		t.Fatal(err)
	}
	startLearnerLikeSystemd(t, c, first)
	second, err := c.AddNode(secondHost)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.StartAgent(); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, second, "still a learner", 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := first.Host.Run(ctx, readyArgv(c, first)...); err != nil {
		t.Fatalf("etcdboot-agent ready of the first: %v\n%s", err, out)
	}
	if err := second.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
}

// waitForLog waits until n's agent logged want, failing if it exits first.
func waitForLog(t *testing.T, n *testcluster.Node, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(n.Agent.Tail(50), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s's agent never logged %q:\n%s", n.Name, want, n.Agent.Tail(30))
		}
		select {
		case <-n.Agent.Exited():
			t.Fatalf("%s's agent exited before it logged %q:\n%s", n.Name, want, n.Agent.Tail(30))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// startLearnerLikeSystemd does what etcdboot-agent.service and then
// etcd.service do on a joining node, short of the health gate: `up` adds
// the learner and writes etcd's config, and etcd starts from that config.
func startLearnerLikeSystemd(t *testing.T, c *testcluster.Cluster, n *testcluster.Node) {
	t.Helper()
	upLikeSystemd(t, n)
	startEtcdService(t, c, n)
}

// upLikeSystemd runs `up` to its config step and lets it end, as
// etcdboot-agent.service's does before etcd.service starts.
func upLikeSystemd(t *testing.T, n *testcluster.Node) {
	t.Helper()
	if err := n.StartAgent("--crash-after", string(bootstrap.StepConfig)); err != nil {
		t.Fatal(err)
	}
	<-n.Agent.Exited()
	st, err := n.Journal()
	if err != nil || st.Plan == nil || st.Plan.Action != bootstrap.ActionJoin || len(st.JoinEndpoints) == 0 {
		t.Fatalf("journal after the join's config step: %+v, %v", st, err)
	}
}

// startEtcdService starts etcd from the config `up` wrote, as etcd.service.
func startEtcdService(t *testing.T, c *testcluster.Cluster, n *testcluster.Node) {
	t.Helper()
	env, err := bootstrap.ReadEnvFile(filepath.Join(n.Root, "etc/etcd/etcd.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Host.Start("etcd-service", []string{filepath.Join(c.Opts.Bin, "etcd")}, append(env, "ETCD_LOG_OUTPUTS="+filepath.Join(t.TempDir(), "etcd.log"))); err != nil {
		t.Fatal(err)
	}
}

// readyArgv is etcd.service's health gate for n.
func readyArgv(c *testcluster.Cluster, n *testcluster.Node) []string {
	return []string{filepath.Join(c.Opts.Bin, "etcdboot-agent"), "ready", "--log-level", "info",
		"--payload", n.PayloadPath(), "--root", n.Root, "--state-dir", n.StateDir(), "--health-timeout", "90s"}
}
