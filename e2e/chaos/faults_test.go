package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
)

// runStep runs a step's faults together, each on a member of its own.
func (g *group) runStep(ctx context.Context, st Step) error {
	if err := sleep(ctx, st.Gap); err != nil {
		return err
	}
	targets := g.targets(ctx, st.Faults)
	errs := make([]error, len(st.Faults))
	var wg sync.WaitGroup
	for i, f := range st.Faults {
		g.mu.Lock()
		g.faults[f.Kind]++
		g.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.run(ctx, f, targets[i]); err != nil {
				errs[i] = fmt.Errorf("%s on %s: %w", f.Kind, targets[i].Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// targets picks each fault's member: the leader of the moment for the
// leader's faults, else Pick into the live members no other fault of the
// step has taken. A fault that ends its instance never takes the last
// member on a seed address (see canEnd).
func (g *group) targets(ctx context.Context, faults []Fault) []*testcluster.Node {
	taken := map[*testcluster.Node]bool{}
	var ending []*testcluster.Node
	out := make([]*testcluster.Node, len(faults))
	for i, f := range faults {
		if f.Kind == KillLeader || f.Kind == PartitionLeader {
			if l, err := g.leader(ctx); err == nil && !taken[l] {
				out[i] = l
				g.logf("%s: the leader is %s", f.Kind, l.Name)
			} else {
				g.logf("%s: no leader to aim at (%v); a member instead", f.Kind, err)
			}
		}
		if out[i] == nil {
			cands := slices.DeleteFunc(g.live(), func(n *testcluster.Node) bool {
				return taken[n] || f.ends() && !g.canEnd(n, ending)
			})
			out[i] = cands[f.Pick%len(cands)]
		}
		taken[out[i]] = true
		if f.ends() {
			ending = append(ending, out[i])
		}
	}
	return out
}

// ends reports whether the fault ends its target's instance for good.
func (f Fault) ends() bool {
	switch f.Kind {
	case Replace, PartitionJoiner, SlowJoin, TwoJoiners:
		return true
	case LeaveAdd:
		return !f.Rejoin
	}
	return false
}

// canEnd reports whether n's instance may be ended, besides those already
// chosen: not when it is the last live member on a seed address. A new
// instance finds the group through the seeds alone (static seed
// discovery): with no member left on one, new instances wait forever (a
// limitation the suite found, and stays clear of to test the rest). An
// instance that comes back with its disk also asks the members its data
// dir lists, so the last seed may leave and come back (seed 3006 found
// that it could not).
func (g *group) canEnd(n *testcluster.Node, already []*testcluster.Node) bool {
	if !g.isSeed(n) {
		return true
	}
	for _, m := range g.live() {
		if m != n && g.isSeed(m) && !slices.Contains(already, m) {
			return true
		}
	}
	return false
}

// isSeed reports whether n runs on one of the group's seed addresses.
func (g *group) isSeed(n *testcluster.Node) bool {
	return slices.Contains(g.c.Opts.Seeds, int(n.Addr.As4()[3]))
}

// run runs one fault against n.
func (g *group) run(ctx context.Context, f Fault, n *testcluster.Node) error {
	switch f.Kind {
	case KillRestart, KillLeader:
		return g.killRestart(ctx, n, f.Down)
	case Partition, PartitionLeader:
		return g.partition(ctx, n, f.Down)
	case Replace, PartitionJoiner, SlowJoin:
		return g.replace(ctx, n, f)
	case TwoJoiners:
		return g.twoJoiners(ctx, n)
	case LeaveAdd:
		return g.leaveAdd(ctx, n, f.Rejoin)
	}
	return fmt.Errorf("unknown fault %q", f.Kind)
}

func (g *group) killRestart(ctx context.Context, n *testcluster.Node, down time.Duration) error {
	g.logf("SIGKILL %s (agent and etcd), restart with its disk in %v", n.Name, down.Round(time.Millisecond))
	if err := n.KillWithEtcd(); err != nil {
		return err
	}
	if err := sleep(ctx, down); err != nil {
		return err
	}
	if err := g.start(n); err != nil {
		return err
	}
	g.logf("%s healthy again", n.Name)
	return nil
}

func (g *group) partition(ctx context.Context, n *testcluster.Node, down time.Duration) error {
	g.logf("partition %s from the others for %v", n.Name, down.Round(time.Millisecond))
	err := g.isolate(n)
	if err == nil {
		err = sleep(ctx, down)
	}
	err = errors.Join(err, g.heal(n))
	g.logf("%s healed", n.Name)
	return err
}

// replace terminates n and boots a replacement on a new address: as an
// exec-mode agent, cut off from the others for f.Down while it joins
// (PartitionJoiner), or the systemd way with its etcd f.Down late
// (SlowJoin).
func (g *group) replace(ctx context.Context, n *testcluster.Node, f Fault) error {
	g.logf("kill and wipe %s", n.Name)
	if err := g.terminate(n); err != nil {
		return err
	}
	j, err := g.addInstance()
	if err != nil {
		return err
	}
	switch f.Kind {
	case SlowJoin:
		g.logf("replacement %s boots the systemd way, etcd.service %v late", j.Name, f.Down.Round(time.Millisecond))
		err = j.StartLikeSystemd(ctx, f.Down)
	default:
		g.logf("replacement %s starts", j.Name)
		if err = j.StartAgent(); err == nil && f.Kind == PartitionJoiner {
			err = g.cutJoiner(ctx, j, &f)
		}
		if err == nil {
			err = j.WaitHealthy(healthTimeout)
		}
	}
	if err != nil {
		return err
	}
	g.logf("%s healthy", j.Name)
	return nil
}

// cutJoiner partitions a joiner from the others for cut.Down: as it
// starts, or once its learner is added (its membership step journaled).
func (g *group) cutJoiner(ctx context.Context, j *testcluster.Node, cut *Fault) error {
	if !cut.Early {
		deadline := time.Now().Add(2 * time.Minute)
		// Polled closely: etcd starts a few milliseconds after the step.
		for !journaled(j, bootstrap.StepMembership) {
			if time.Now().After(deadline) || !j.Running() {
				g.logf("%s never journaled its membership step while running; not cut off", j.Name)
				return nil
			}
			if err := sleep(ctx, 2*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return g.partition(ctx, j, cut.Down)
}

// journaled reports whether n's journal has step done.
func journaled(n *testcluster.Node, step bootstrap.Step) bool {
	st, err := n.Journal()
	return err == nil && slices.ContainsFunc(st.Done, func(r bootstrap.StepRecord) bool { return r.Step == step })
}

// twoJoiners terminates a minority of members, first among them, and
// starts two new instances at the same moment. When the group ends up
// larger than its size (a group of 3 loses only one), members that were
// there before leave until it is back to its size, as a scale-in does.
func (g *group) twoJoiners(ctx context.Context, first *testcluster.Node) error {
	victims := []*testcluster.Node{first}
	nodes := g.live()
	i := slices.Index(nodes, first)
	for k := 1; k < len(nodes) && len(victims) < twoJoinersVictims(g.size); k++ {
		if v := nodes[(i+k)%len(nodes)]; g.canEnd(v, victims) {
			victims = append(victims, v)
		}
	}
	for _, v := range victims {
		g.logf("kill and wipe %s", v.Name)
		if err := g.terminate(v); err != nil {
			return err
		}
	}
	var joiners []*testcluster.Node
	for range 2 {
		j, err := g.addInstance()
		if err != nil {
			return err
		}
		joiners = append(joiners, j)
	}
	g.logf("joiners %s and %s start at once", joiners[0].Name, joiners[1].Name)
	for _, j := range joiners {
		if err := j.StartAgent(); err != nil {
			return err
		}
	}
	var errs []error
	for _, j := range joiners {
		errs = append(errs, j.WaitHealthy(healthTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	g.logf("%s and %s healthy", joiners[0].Name, joiners[1].Name)
	for surplus := len(g.live()) - g.size; surplus > 0; surplus-- {
		old := slices.DeleteFunc(g.live(), func(n *testcluster.Node) bool { return slices.Contains(joiners, n) || !g.canEnd(n, nil) })
		n := old[(i+surplus)%len(old)]
		g.logf("scale in: %s leaves", n.Name)
		if err := g.leave(ctx, n); err != nil {
			return err
		}
		if err := g.terminate(n); err != nil {
			return err
		}
	}
	return nil
}

// repair does what an autoscaling group's health check does after a
// failed step: each instance whose agent ended or never got healthy is
// terminated and replaced by a new one.
func (g *group) repair(ctx context.Context) error {
	for _, n := range g.live() {
		if n.Running() && n.Healthy() {
			continue
		}
		g.mu.Lock()
		g.repairs++
		g.mu.Unlock()
		g.logf("repair: the group replaces unhealthy %s", n.Name)
		if err := g.terminate(n); err != nil {
			return err
		}
		j, err := g.addInstance()
		if err != nil {
			return err
		}
		if err := g.start(j); err != nil {
			return err
		}
		g.logf("%s healthy", j.Name)
	}
	return ctx.Err()
}

// leaveAdd makes n leave, then adds a member back: n itself with its disk
// (its agent rejoins), or a new instance.
func (g *group) leaveAdd(ctx context.Context, n *testcluster.Node, rejoin bool) error {
	g.logf("%s leaves", n.Name)
	if err := g.leave(ctx, n); err != nil {
		return err
	}
	if rejoin {
		g.logf("%s boots again with its disk", n.Name)
		if err := g.start(n); err != nil {
			return err
		}
		g.logf("%s healthy", n.Name)
		return nil
	}
	if err := g.terminate(n); err != nil {
		return err
	}
	j, err := g.addInstance()
	if err != nil {
		return err
	}
	g.logf("new instance %s starts", j.Name)
	if err := g.start(j); err != nil {
		return err
	}
	g.logf("%s healthy", j.Name)
	return nil
}

// leave runs `etcdboot-agent leave` on n, again while it is refused
// because another member is away, and waits for n's agent to end with the
// etcd that leave stopped.
func (g *group) leave(ctx context.Context, n *testcluster.Node) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		out, err := n.Host.Run(lctx, n.LeaveArgv()...)
		cancel()
		if err == nil {
			break
		}
		if !strings.Contains(string(out), bootstrap.ErrQuorumAtRisk.Error()) || time.Now().After(deadline) {
			return fmt.Errorf("leave: %w", err)
		}
		g.mu.Lock()
		g.leaveRefusals++
		g.mu.Unlock()
		g.logf("leave of %s refused (%s); again in 2s", n.Name, lastLine(out))
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
	}
	if n.Agent != nil {
		_ = n.Agent.Wait(30 * time.Second)
		if n.Running() {
			return fmt.Errorf("agent of %s still runs 30s after leave stopped etcd", n.Name)
		}
	}
	return nil
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
