package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
)

// TestAMemberRemovedWhileCutOffRejoinsByItself: a member is cut off from
// the others (nftables) and, while it is, the group removes it (as a
// replacement does with a member it cannot reach). Its agent keeps running
// and nobody reboots it: once the partition heals, its watcher finds no
// quorum and the other members' list without it, stops etcd and runs the
// boot steps again, whose plan moves the data dir aside and joins; the
// group is back to three voters with it. Before the watcher did this, the
// member stayed leaderless until a reboot (chaos seeds 1008, 1024 on a
// group of 5).
func TestAMemberRemovedWhileCutOffRejoinsByItself(t *testing.T) {
	removeAndWatchItRejoin(t, true)
}

// TestAMemberRemovedWhileRunningRejoinsByItself: the group removes a
// member that is running and connected (as a replacement or a chaos
// leave does). Its etcd learns it and exits ("the member has been
// permanently removed from the cluster"); its `up --exec` asks the other
// members, finds itself unlisted, and runs the boot steps again, whose
// plan moves the data dir aside and joins. Any other exit of etcd ends
// `up`, so an agent that took the member over is not raced.
func TestAMemberRemovedWhileRunningRejoinsByItself(t *testing.T) {
	removeAndWatchItRejoin(t, false)
}

// removeAndWatchItRejoin removes the third member of a group of three,
// cut off from the others while it is removed when cutOff, and waits for
// its agent to rejoin it without a reboot.
func removeAndWatchItRejoin(t *testing.T, cutOff bool) {
	c := newGroup(t, 3, 11, 12, 13)
	cut, others := c.Nodes[2], c.Nodes[:2]
	if cutOff {
		for _, o := range others {
			if err := cut.Host.Block(o.Addr); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := c.Client(others[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var id uint64
	for _, m := range members(t, c, others[0]).Members {
		if m.Name == cut.Name {
			id = m.ID
		}
	}
	if id == 0 {
		t.Fatalf("%s is not a member", cut.Name)
	}
	// etcd refuses ("unhealthy cluster") until the leader has missed a
	// cut member for a few seconds.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		_, err := cli.MemberRemove(ctx, id)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("remove %s: %v", cut.Name, err)
		}
	}
	assertVoters(t, c, others[0], others[0].Name, others[1].Name)
	if cutOff {
		// The others' watchers shut its peer traffic out.
		time.Sleep(2 * bootstrap.WatchInterval)
		for _, o := range others {
			if err := cut.Host.Unblock(o.Addr); err != nil {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, err := cut.Journal()
		if err == nil && st.Plan != nil && st.Plan.Action == bootstrap.ActionRejoin && st.MemberID != id && containsStep(st.Done, bootstrap.StepHealthy) {
			if len(st.MovedAside) != 1 {
				t.Fatalf("rejoined with moved-aside data dirs %v, want the old one kept", st.MovedAside)
			}
			break
		}
		select {
		case <-cut.Agent.Exited():
			t.Fatalf("the agent of %s exited (%v) instead of rejoining:\n%s", cut.Name, cut.Agent.ExitErr(), cut.Agent.Tail(30))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not rejoin within 2m: journal %+v, %v\n%s", cut.Name, st.Plan, err, cut.Agent.Tail(30))
		}
		time.Sleep(500 * time.Millisecond)
	}
	assertVoters(t, c, others[0], c.Nodes[0].Name, c.Nodes[1].Name, cut.Name)
	if err := c.Put(ctx, cut.ClientURL(), "/rejoined", "yes"); err != nil {
		t.Fatalf("put through the rejoined member: %v", err)
	}
}

// containsStep reports whether the journal records step as done.
func containsStep(done []bootstrap.StepRecord, step bootstrap.Step) bool {
	for _, r := range done {
		if r.Step == step {
			return true
		}
	}
	return false
}

// TestALeftSeedRejoinsThroughTheMembersItsDiskRemembers: every seed of a
// group but one is replaced on a new address, then that last seed leaves
// and boots again with its disk. No seed answers its discovery, so only
// the members its data dir lists can tell it a cluster runs: its agent asks
// them, moves the stale data dir aside and rejoins. Before, it kept the data
// dir and stopped with "no running cluster confirms it is stale" (chaos
// seed 3006 on a group of 5).
func TestALeftSeedRejoinsThroughTheMembersItsDiskRemembers(t *testing.T) {
	c := newGroup(t, 3, 11, 12, 13)
	last := c.Nodes[1]
	for dead, host := range map[*testcluster.Node]int{c.Nodes[0]: 14, c.Nodes[2]: 15} {
		if _, err := c.ReplaceNode(dead, host); err != nil {
			t.Fatalf("replace %s: %v", dead.Name, err)
		}
	}
	assertVoters(t, c, last, "etcd-10-123-0-12", "etcd-10-123-0-14", "etcd-10-123-0-15")
	leaveAndRejoin(t, last)
	if !strings.Contains(last.Agent.Tail(200), "found the running cluster at members the data dir remembers") {
		t.Errorf("the agent did not say it found the cluster at the remembered members:\n%s", last.Agent.Tail(40))
	}
	assertVoters(t, c, c.Nodes[len(c.Nodes)-1], "etcd-10-123-0-12", "etcd-10-123-0-14", "etcd-10-123-0-15")
}

// leaveAndRejoin has n leave its group (its data dir stays), boots it again
// with its disk, and checks that it rejoined: plan rejoin, its old data dir
// moved aside and kept.
func leaveAndRejoin(t *testing.T, n *testcluster.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := n.Host.Run(ctx, n.LeaveArgv()...); err != nil {
		t.Fatalf("leave %s: %v\n%s", n.Name, err, out)
	}
	_ = n.Kill()
	if err := n.StartAgent(); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	st, _ := n.Journal()
	if st.Plan.Action != bootstrap.ActionRejoin || len(st.MovedAside) != 1 {
		t.Fatalf("%s after its leave: plan %+v moved aside %v, want rejoin with the old data dir kept", n.Name, st.Plan, st.MovedAside)
	}
	if _, err := os.Stat(st.MovedAside[0]); err != nil {
		t.Fatalf("%s's moved-aside data dir is gone: %v", n.Name, err)
	}
}
