package chaos

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// The environment a run takes its set from.
const (
	// envSeed replays one seed (TestChaos runs only it).
	envSeed = "ETCDBOOT_CHAOS_SEED"
	// envLong=1 runs TestChaosLong, the long set of `make chaos`.
	envLong = "ETCDBOOT_CHAOS_LONG"
	// envSeeds is how many seeds the long set runs, from envFirstSeed.
	envSeeds     = "ETCDBOOT_CHAOS_SEEDS"
	envFirstSeed = "ETCDBOOT_CHAOS_FIRST_SEED"
	// envSize and envLength override the group size and the schedule's
	// length (a Go duration).
	envSize   = "ETCDBOOT_CHAOS_SIZE"
	envLength = "ETCDBOOT_CHAOS_LENGTH"
	// envOut is where a failing schedule's report goes when go test runs
	// without -artifacts; default out/chaos/ in the module.
	envOut = "ETCDBOOT_CHAOS_OUT"
)

// ciSeeds are the short set's seeds, run by make test (each about 75 s of
// faults on a group of 3).
var ciSeeds = []uint64{2, 13, 14}

const (
	ciSize   = 3
	ciLength = 60 * time.Second
	// The long set's defaults.
	longSize   = 5
	longLength = 4 * time.Minute
	longSeeds  = 10
	longFirst  = 1000
)

// porcupineTimeout bounds the linearizability check of one schedule.
const porcupineTimeout = 3 * time.Minute

// TestChaos runs the short set: a few fixed seeds on a group of 3. With
// ETCDBOOT_CHAOS_SEED it replays that seed alone.
func TestChaos(t *testing.T) {
	seeds, size, length := ciSeeds, envInt(t, envSize, ciSize), envDuration(t, envLength, ciLength)
	if s := os.Getenv(envSeed); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want a number", envSeed, s)
		}
		seeds = []uint64{seed}
	}
	runSet(t, seeds, size, length)
}

// TestChaosLong runs the long set of `make chaos`: ETCDBOOT_CHAOS_SEEDS
// seeds from ETCDBOOT_CHAOS_FIRST_SEED, on a group of 5, with longer
// schedules. It runs only with ETCDBOOT_CHAOS_LONG=1.
func TestChaosLong(t *testing.T) {
	if os.Getenv(envLong) != "1" {
		t.Skipf("the long chaos set runs with %s=1 (make chaos)", envLong)
	}
	n := envInt(t, envSeeds, longSeeds)
	first := uint64(envInt(t, envFirstSeed, longFirst))
	var seeds []uint64
	for i := range n {
		seeds = append(seeds, first+uint64(i))
	}
	runSet(t, seeds, envInt(t, envSize, longSize), envDuration(t, envLength, longLength))
}

// runSet runs one schedule per seed, each a subtest, and prints the
// figures of the set.
func runSet(t *testing.T, seeds []uint64, size int, length time.Duration) {
	var all []*figures
	for _, seed := range seeds {
		f := &figures{Seed: seed, Size: size}
		all = append(all, f)
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			for _, p := range runSchedule(t, NewSchedule(seed, size, length), f, runOptions{}) {
				t.Error(p)
			}
		})
	}
	table := figuresTable(all)
	t.Logf("chaos figures (group of %d, schedules of %v):\n%s", size, length, table)
	if dir := os.Getenv(envOut); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			_ = os.WriteFile(dir+"/figures.md", []byte(table), 0o644)
		}
	}
}

// runOptions change how a schedule runs.
type runOptions struct {
	// bin is the directory of etcd, etcdctl and the agent; "" is the
	// tests' usual one (etcdtest.BinDir).
	bin string
	// stopAtFirst ends the schedule at its first violation, without
	// repairing the group or running the end checks.
	stopAtFirst bool
}

// runSchedule boots a group, runs the schedule under client load and
// checks the outcome, recording its figures in f. It returns every
// violation; a failure to set the group up at all fails t.
func runSchedule(t *testing.T, sched Schedule, f *figures, opts runOptions) []string {
	t.Logf("%s", sched)
	bin := opts.bin
	if bin == "" {
		bin = etcdtest.BinDir(t, "etcd", "etcdctl", "etcdboot-agent")
	}
	logDir, workDir := t.TempDir(), t.TempDir()
	rep := &report{sched: sched, logDir: logDir, workDir: workDir}
	// Registered before the lab's cleanup, so it runs after the lab
	// closed: the logs are complete.
	t.Cleanup(func() { rep.writeOnFailure(t) })
	// Other e2e runs on the machine hold the lab's subnet for minutes.
	lab := netlab.NewForTest(t, netlab.Options{Prefix: "ebc", LogDir: logDir, LockWait: 30 * time.Minute})
	started := time.Now()
	var hosts []int
	for i := range sched.Size {
		hosts = append(hosts, 11+i)
	}
	c, err := testcluster.New(lab, testcluster.Options{Bin: bin, WorkDir: workDir, GroupSize: sched.Size, Seeds: hosts, SnapshotCount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	g := &group{c: c, size: sched.Size, nextHost: firstNewHost, faults: map[Kind]int{}}
	g.logf = func(format string, args ...any) {
		line := fmt.Sprintf("%7.1fs  ", time.Since(started).Seconds()) + fmt.Sprintf(format, args...)
		rep.trace(line)
		t.Log(line)
	}
	for _, h := range hosts {
		n, err := c.AddNode(h)
		if err != nil {
			t.Fatal(err)
		}
		g.nodes = append(g.nodes, n)
	}
	if err := c.StartAll(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(healthTimeout); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var clusterID uint64
	for id := range g.observe(ctx).clusterIDs {
		clusterID = id
	}
	if _, err := g.settle(ctx, clusterID, settleTimeout); err != nil {
		t.Fatalf("the group never formed: %v", err)
	}
	g.logf("group of %d formed, cluster %x", sched.Size, clusterID)

	w := startWorkload(sched.Seed, 2*sched.Size, 10, g.endpoints, func(ep string) (*clientv3.Client, error) { return c.Client(ep) })
	stopped := false
	defer func() {
		if !stopped {
			w.stop()
		}
	}()
	faultsStart := time.Now()
	var failures []string
	for i, st := range sched.Steps {
		g.logf("step %d/%d", i+1, len(sched.Steps))
		if err := g.runStep(ctx, st); err != nil {
			failures = append(failures, fmt.Sprintf("step %d: %v", i+1, err))
			if opts.stopAtFirst {
				break
			}
			// The violation stands; the group is repaired as its
			// autoscaling group would, so the rest of the schedule
			// still runs.
			if err := g.repair(ctx); err != nil {
				failures = append(failures, fmt.Sprintf("repair after step %d: %v", i+1, err))
				break
			}
		}
		took, err := g.settle(ctx, clusterID, settleTimeout)
		g.settles = append(g.settles, took)
		if err != nil {
			failures = append(failures, fmt.Sprintf("after step %d: %v", i+1, err))
			break
		}
		g.logf("settled in %v", took.Round(10*time.Millisecond))
	}
	if opts.stopAtFirst && len(failures) > 0 {
		w.stop()
		stopped = true
		rep.failures = failures
		return failures
	}
	f.Faulting = time.Since(faultsStart)
	// A last stretch of traffic on the settled group.
	_ = sleep(ctx, 2*time.Second)
	calls := w.stop()
	stopped = true
	rep.calls = calls
	f.count(calls)
	f.Faults, f.Settles, f.LeaveRefusals, f.Repairs = g.faults, g.settles, g.leaveRefusals, g.repairs

	failures = append(failures, check(ctx, t, g, clusterID, calls, rep, f)...)
	f.Violations = len(failures)
	rep.failures = failures
	t.Logf("seed %d: %s", sched.Seed, f.summary())
	return failures
}

// check runs the end-of-schedule checks and returns every violation.
func check(ctx context.Context, t *testing.T, g *group, clusterID uint64, calls []Op, rep *report, f *figures) []string {
	var failures []string
	// The group as a whole: one cluster ID, its size of voters and no
	// learner, every agent's journal at the healthy step.
	if p := g.problems(g.observe(ctx), clusterID); len(p) > 0 {
		failures = append(failures, "the group at the end: "+strings.Join(p, "; "))
	}
	// Every node's firewall lets in exactly the members.
	failures = append(failures, g.checkFirewalls(ctx)...)
	cli, err := g.client()
	if err != nil {
		return append(failures, fmt.Sprintf("connect to the group: %v", err))
	}
	defer cli.Close()
	hctx, cancel := context.WithTimeout(ctx, time.Minute)
	events, err := revisionHistory(hctx, cli)
	cancel()
	if err != nil {
		return append(failures, err.Error())
	}
	rep.events = events
	final := map[string]map[string]string{}
	for _, n := range g.live() {
		kv, err := g.readAll(ctx, n)
		if err != nil {
			failures = append(failures, fmt.Sprintf("read the keys through %s: %v", n.Name, err))
			continue
		}
		final[n.Name] = kv
	}
	failures = append(failures, checkDurability(calls, events, final)...)

	r := resolve(calls, events)
	f.Checked, f.AppliedUnacked, f.LostUnacked, f.MaybeDeletes = len(r.ops), r.appliedUnacked, r.lostUnacked, r.maybeDeletes
	start := time.Now()
	result, info := porcupine.CheckOperationsVerbose(kvModel, r.ops, porcupineTimeout)
	f.Porcupine = time.Since(start)
	rep.model, rep.info = kvModel, &info
	switch result {
	case porcupine.Illegal:
		failures = append(failures, fmt.Sprintf("the history of %d operations is not linearizable", len(r.ops)))
	case porcupine.Unknown:
		failures = append(failures, fmt.Sprintf("porcupine did not decide within %v whether the history of %d operations is linearizable", porcupineTimeout, len(r.ops)))
	}
	t.Logf("linearizability: %s (%d operations, %v)", result, len(r.ops), f.Porcupine.Round(time.Millisecond))
	return failures
}

// readAll reads every workload key through n's member (a linearizable
// read), retrying for a while as a member that just settled may still be
// catching up.
func (g *group) readAll(ctx context.Context, n *testcluster.Node) (map[string]string, error) {
	cli, err := g.client(n.ClientURL())
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	var lastErr error
	for range 10 {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := cli.Get(rctx, keyPrefix, clientv3.WithPrefix())
		cancel()
		if err == nil {
			kv := map[string]string{}
			for _, e := range resp.Kvs {
				if string(e.Key) != sentinelKey {
					kv[string(e.Key)] = string(e.Value)
				}
			}
			return kv, nil
		}
		lastErr = err
		if err := sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
	return nil, lastErr
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a duration such as 90s", name, s)
	}
	return d
}

// sortedKinds lists the kinds that ran, in Kinds order.
func sortedKinds(m map[Kind]int) []Kind {
	return slices.DeleteFunc(slices.Clone(Kinds), func(k Kind) bool { return m[k] == 0 })
}
