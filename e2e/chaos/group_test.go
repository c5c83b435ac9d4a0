package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/e2e/testcluster"
)

// group is the autoscaling group under test: the instances that run, and
// what the schedule did to them.
type group struct {
	c    *testcluster.Cluster
	size int
	logf func(format string, args ...any)

	mu sync.Mutex
	// nodes are the live instances, in address order.
	nodes []*testcluster.Node
	// nextHost is the last octet of the next new instance's address: a
	// replacement never reuses an address.
	nextHost int
	// faults counts the faults run, by kind; leaveRefusals the leaves
	// refused while another member was away.
	faults        map[Kind]int
	leaveRefusals int
	// repairs counts the instances replaced after a failed step.
	repairs int
	// settles are how long the group took after each step to be back to
	// its size, healthy.
	settles []time.Duration
}

// firstNewHost is where new instances' addresses start; the seeds sit at
// 11 up to 10+size.
const firstNewHost = 20

// lastHost bounds the addresses instances take: partitions block them all.
const lastHost = 250

// healthTimeout bounds how long a started agent may take to journal the
// healthy step.
const healthTimeout = 3 * time.Minute

// settleTimeout bounds how long the group may take after a step to be back
// to its size, every member healthy.
const settleTimeout = 2 * time.Minute

func (g *group) live() []*testcluster.Node {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.nodes)
}

// endpoints are the live instances' client URLs, for the clients.
func (g *group) endpoints() []string {
	var eps []string
	for _, n := range g.live() {
		eps = append(eps, n.ClientURL())
	}
	return eps
}

// addInstance adds a new instance on a new address, not yet started.
func (g *group) addInstance() (*testcluster.Node, error) {
	g.mu.Lock()
	host := g.nextHost
	g.nextHost++
	g.mu.Unlock()
	if host > lastHost {
		return nil, fmt.Errorf("out of addresses for new instances (past 10.123.0.%d)", lastHost)
	}
	n, err := g.c.AddNode(host)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.nodes = append(g.nodes, n)
	slices.SortFunc(g.nodes, func(a, b *testcluster.Node) int { return a.Addr.Compare(b.Addr) })
	g.mu.Unlock()
	return n, nil
}

// terminate ends an instance for good: killed, its data disk wiped (its
// journal and logs stay for the report), forgotten by the group.
func (g *group) terminate(n *testcluster.Node) error {
	err := n.KillWithEtcd()
	g.mu.Lock()
	g.nodes = slices.DeleteFunc(g.nodes, func(m *testcluster.Node) bool { return m == n })
	g.mu.Unlock()
	g.c.Remove(n)
	return errors.Join(err, os.RemoveAll(n.DataDir()))
}

// start starts a node's agent and waits until it journals the healthy step.
func (g *group) start(n *testcluster.Node) error {
	if err := n.StartAgent(); err != nil {
		return err
	}
	return n.WaitHealthy(healthTimeout)
}

// client connects to one member, or to every live one.
func (g *group) client(endpoints ...string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		endpoints = g.endpoints()
	}
	return g.c.Client(endpoints...)
}

// leader is the live instance that leads, asked through every member
// until one answers.
func (g *group) leader(ctx context.Context) (*testcluster.Node, error) {
	nodes := g.live()
	for _, n := range nodes {
		cli, err := g.client(n.ClientURL())
		if err != nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := cli.Status(sctx, n.ClientURL())
		var ml *clientv3.MemberListResponse
		if err == nil && st.Leader != 0 {
			ml, err = cli.MemberList(sctx)
		}
		cancel()
		cli.Close()
		if err != nil || st.Leader == 0 {
			continue
		}
		for _, m := range ml.Members {
			if m.ID != st.Leader {
				continue
			}
			for _, l := range nodes {
				if l.Name == m.Name {
					return l, nil
				}
			}
		}
	}
	return nil, errors.New("no member names a live leader")
}

// isolate cuts n off from every other instance, both ways, in n's
// namespace: the live instances first (a joiner's etcd contacts them as it
// starts), then every other lab host and the next few new instances' so
// that a joiner started meanwhile is cut off too. The lab's root address
// (the clients) still reaches n.
func (g *group) isolate(n *testcluster.Node) error {
	var addrs []netip.Addr
	for _, m := range g.live() {
		addrs = append(addrs, m.Addr)
	}
	for _, h := range g.c.Lab.Hosts() {
		addrs = append(addrs, h.Addr)
	}
	g.mu.Lock()
	next := g.nextHost
	g.mu.Unlock()
	for host := next; host < next+4 && host <= lastHost; host++ {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 123, 0, byte(host)}))
	}
	for _, a := range addrs {
		if a == n.Addr || slices.Contains(n.Host.Blocked(), a) {
			continue
		}
		if err := n.Host.Block(a); err != nil {
			return err
		}
	}
	return nil
}

// heal ends isolate.
func (g *group) heal(n *testcluster.Node) error {
	var errs []error
	for _, a := range n.Host.Blocked() {
		errs = append(errs, n.Host.Unblock(a))
	}
	return errors.Join(errs...)
}

// state is the group as its members see it.
type state struct {
	clusterIDs map[uint64][]string
	voters     []string
	learners   []string
	// unstarted are members added but never started (no name yet).
	unstarted int
	// unanswered are live instances whose member did not answer.
	unanswered []string
	// unhealthy are live instances whose agent has not journaled the
	// healthy step of its current run, or no longer runs.
	unhealthy []string
}

// observe asks every live instance's member for its cluster ID and the
// member list.
func (g *group) observe(ctx context.Context) state {
	st := state{clusterIDs: map[uint64][]string{}}
	var list *clientv3.MemberListResponse
	for _, n := range g.live() {
		if !n.Running() || !n.Healthy() {
			st.unhealthy = append(st.unhealthy, n.Name)
		}
		cli, err := g.client(n.ClientURL())
		if err != nil {
			st.unanswered = append(st.unanswered, n.Name)
			continue
		}
		mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		ml, err := cli.MemberList(mctx)
		cancel()
		cli.Close()
		if err != nil {
			st.unanswered = append(st.unanswered, n.Name)
			continue
		}
		st.clusterIDs[ml.Header.ClusterId] = append(st.clusterIDs[ml.Header.ClusterId], n.Name)
		if list == nil {
			list = ml
		}
	}
	if list != nil {
		for _, m := range list.Members {
			switch {
			case m.Name == "":
				st.unstarted++
			case m.IsLearner:
				st.learners = append(st.learners, m.Name)
			default:
				st.voters = append(st.voters, m.Name)
			}
		}
	}
	slices.Sort(st.voters)
	return st
}

// problems says how st differs from a converged group of the live
// instances under clusterID: one cluster ID on every member, the group's
// size of voters which are exactly the live instances, no learner, every
// agent healthy.
func (g *group) problems(st state, clusterID uint64) []string {
	var p []string
	var names []string
	for _, n := range g.live() {
		names = append(names, n.Name)
	}
	slices.Sort(names)
	if len(st.clusterIDs) != 1 || len(st.clusterIDs[clusterID]) == 0 {
		p = append(p, fmt.Sprintf("cluster IDs %s, want only %x", describeIDs(st.clusterIDs), clusterID))
	}
	if len(st.voters) != g.size || !slices.Equal(st.voters, names) {
		p = append(p, fmt.Sprintf("voters %v, want the %d live instances %v", st.voters, g.size, names))
	}
	if len(st.learners) > 0 || st.unstarted > 0 {
		p = append(p, fmt.Sprintf("learners %v and %d members never started left", st.learners, st.unstarted))
	}
	if len(st.unanswered) > 0 {
		p = append(p, fmt.Sprintf("members not answering: %v", st.unanswered))
	}
	if len(st.unhealthy) > 0 {
		p = append(p, fmt.Sprintf("agents without a healthy journal for their current run: %v", st.unhealthy))
	}
	return p
}

func describeIDs(ids map[uint64][]string) string {
	var parts []string
	for id, who := range ids {
		parts = append(parts, fmt.Sprintf("%x on %v", id, who))
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// settle waits until the group has converged, and returns how long it
// took, or what still differs at the deadline.
func (g *group) settle(ctx context.Context, clusterID uint64, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		g.playSystemd(ctx)
		p := g.problems(g.observe(ctx), clusterID)
		if len(p) == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout || ctx.Err() != nil {
			return time.Since(start), fmt.Errorf("the group did not converge within %v: %s", timeout, strings.Join(p, "; "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// playSystemd does for every instance booted the systemd way what
// etcdboot-watch.service's ExecStopPost does: a watcher that exited asking
// for the boot steps to run again gets etcdboot-agent.service restarted.
func (g *group) playSystemd(ctx context.Context) {
	for _, n := range g.live() {
		if did, err := n.RestartIfWatcherAsked(ctx); did {
			g.logf("%s's watcher asked to run the boot steps again: systemd restarts etcdboot-agent.service (%v)", n.Name, err)
		}
	}
}
