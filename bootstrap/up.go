package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/etcdboot/etcdboot/internal/monitoring"
)

// upState is what the steps of Up have produced so far, passed from step to
// step as a value: each step reads what it needs and returns the state with
// what it produced.
type upState struct {
	// prev is the journal as the previous run left it.
	prev JournalState
	// node is the payload step's.
	node node
	// found is the discovery step's; the plan step may find the running
	// cluster (at the members the data dir remembers, or for a resumed
	// join).
	found discovered
	// own is this member's etcd when it still ran as the plan step looked.
	own *ownEtcd
	// plan is the plan step's.
	plan Plan
	// version is the version step's: the release that runs, and the
	// cluster-wide lock an upgrade holds until the health gate.
	version versioned
	// joined is the membership step's, for a join.
	joined joined
	// sup runs etcd in exec mode, from the start step on.
	sup *Supervisor
	// peersLetIn is closed once a peer hold of the start step is lifted, in
	// exec mode; nil when there was none.
	peersLetIn <-chan struct{}
}

// upStep is one step of Up.
type upStep struct {
	step Step
	run  func(context.Context, upState) (upState, error)
}

// upSteps are Up's steps, in Steps order: each calls one step function with
// what it needs and keeps what it returns.
func (a *Agent) upSteps() []upStep {
	return []upStep{
		{StepPayload, func(ctx context.Context, s upState) (upState, error) {
			var err error
			s.node, err = a.loadPayload(ctx, true)
			return s, err
		}},
		{StepFirewall, func(_ context.Context, s upState) (upState, error) {
			return s, a.applyFirewall(s.node)
		}},
		{StepDiscovery, func(ctx context.Context, s upState) (upState, error) {
			var err error
			s.found, err = a.discover(ctx, s.node)
			return s, err
		}},
		{StepPlan, func(ctx context.Context, s upState) (upState, error) {
			var err error
			s.own = a.observeOwnEtcd(ctx, s.node)
			s.plan, s.found, err = a.decide(ctx, s.node, s.found, s.prev, s.own)
			return s, err
		}},
		{StepVersion, func(ctx context.Context, s upState) (upState, error) {
			var err error
			if s.version, err = a.checkVersion(ctx, s.node, s.plan, s.found, s.own); err == nil {
				// The binary is what runs: its minor picks etcd's settings
				// and health endpoints.
				s.node.minor = s.version.binary.Minor
			}
			return s, err
		}},
		{StepDataDir, func(_ context.Context, s upState) (upState, error) {
			return s, a.prepareDataDir(s.node, s.plan, s.found.peers)
		}},
		{StepMembership, func(ctx context.Context, s upState) (upState, error) {
			var err error
			s.joined, err = a.membership(ctx, s.node, s.plan, s.found.running)
			return s, err
		}},
		{StepConfig, func(_ context.Context, s upState) (upState, error) {
			return s, a.writeConfig(s.node, a.memberConfig(s.node, s.plan, s.found, s.joined))
		}},
		{StepStart, func(ctx context.Context, s upState) (upState, error) {
			held := holdsPeers(s.node.payload.Firewall.IsEnabled(), s.plan) && a.holdPeers()
			var err error
			if s.sup, err = a.start(ctx, s.node); err == nil {
				a.journal.State.EtcdVersion = s.version.binary.String()
			}
			if held {
				s.peersLetIn = a.letPeersIn(ctx, s.node)
			}
			return s, err
		}},
		{StepHealthy, func(ctx context.Context, s upState) (upState, error) {
			if s.peersLetIn != nil {
				<-s.peersLetIn
			}
			if err := a.waitHealthy(ctx, s.node, s.sup, s.joined.joiner); err != nil {
				return s, gateError{err}
			}
			if s.plan.Recover != nil {
				a.recordRecoveredCluster(ctx, s.node, s.plan.Recover)
			}
			return s, a.finishUpgrade(s.version)
		}},
	}
}

// stepsToRun are the steps Up runs: every step, each run again on every
// boot (each is idempotent, and the journal only tells the plan step what
// an unfinished run was doing). Under systemd the health gate is
// etcd.service's: etcd.service is ordered after this agent, so waiting
// here would wait for ourselves. It is pure.
func stepsToRun(exec bool) []Step {
	if exec {
		return slices.Clone(Steps)
	}
	return slices.DeleteFunc(slices.Clone(Steps), func(s Step) bool { return s == StepHealthy })
}

// Up runs every step: payload, firewall, discovery, plan, data dir, config,
// start, health gate. In exec mode it then supervises etcd until ctx ends or
// etcd exits; when the watcher acts on an operator's recovery request or
// finds this member removed, or etcd exited because the group removed it,
// it runs the steps again, as a reboot would (see runAgain).
func (a *Agent) Up(ctx context.Context) error {
	gateFailures := 0
	for {
		err := a.upOnce(ctx)
		var again bool
		handed := errors.Is(err, errEtcdExited) && handedOver(a.journal.Path(), os.Getpid())
		if again, gateFailures = runAgain(err, gateFailures, handed); !again || ctx.Err() != nil {
			return err
		}
		a.log.Warn("running the boot steps again", "why", err)
	}
}

// maxGateReruns is how many times in a row Up runs its steps again after
// the health gate failed.
const maxGateReruns = 2

// errEtcdExited: the supervised etcd exited after it was ready.
var errEtcdExited = errors.New("etcd exited")

// gateError is a failed health gate, its message unchanged.
type gateError struct{ err error }

func (e gateError) Error() string { return e.err.Error() }
func (e gateError) Unwrap() error { return e.err }

// runAgain decides, from how a run of Up's steps ended, whether to run
// them again, as a reboot would, and returns the health gate's failures in
// a row. The watcher's request (an operator's recovery request without a
// quorum, or this member removed while it was cut off) and an etcd that
// exited because the group removed it run them again: the plan step looks
// afresh, moves the data dir aside and restores or rejoins. A failed
// health gate runs them again maxGateReruns times in a row (the member may
// have been removed between the plan and the start). Any other exit of
// etcd ends Up, as does one whose member was handed over (`leave` stopped
// etcd, or a newer `up` took the member over): running the steps again
// there would race the agent that took over. It is pure.
func runAgain(err error, gateFailures int, handedOver bool) (bool, int) {
	var gate gateError
	switch {
	case handedOver:
		return false, gateFailures
	case errors.Is(err, errRecoveryRequested):
		return true, 0
	case errors.As(err, &gate) && gateFailures < maxGateReruns:
		return true, gateFailures + 1
	}
	return false, gateFailures
}

// upOnce is one run of Up's steps, then the exec-mode supervisor.
func (a *Agent) upOnce(ctx context.Context) error {
	s := upState{prev: a.journal.State}
	a.journal.State.Done = nil
	a.journal.State.Left = false
	a.journal.State.AgentPID = os.Getpid()
	run := stepsToRun(a.cfg.Exec)
	for _, st := range a.upSteps() {
		if !slices.Contains(run, st.step) {
			continue
		}
		var err error
		if s, err = a.runStep(ctx, st, s); err != nil {
			return err
		}
	}
	if !a.cfg.Exec {
		// Its ExecStartPost runs `etcdboot-agent ready`.
		a.log.Info("handed over to systemd; etcd.service runs the health gate", "unit", a.cfg.Unit)
		return nil
	}
	a.log.Info("member ready", "member", s.node.name(), "plan", s.plan.Action)
	a.setPhase(monitoring.PhaseReady)
	if s.sup != nil {
		return a.supervise(ctx, s.node, s.sup)
	}
	return nil
}

// runStep runs one step and journals it; CrashAfter kills the agent right
// after the step it names.
func (a *Agent) runStep(ctx context.Context, st upStep, s upState) (upState, error) {
	a.log.Info("step", "step", st.step)
	a.setPhase(string(st.step))
	s, err := st.run(ctx, s)
	if err != nil {
		return s, fmt.Errorf("%s: %w", st.step, err)
	}
	if err := a.journal.Record(st.step, a.cfg.Now()); err != nil {
		return s, err
	}
	if st.step == StepPayload && a.cfg.Exec {
		// The supervisor lives as long as etcd: it serves the agent's metrics.
		if err := a.startMetrics(ctx, s.node); err != nil {
			a.log.Warn("agent metrics not served", "err", err)
		}
	}
	if a.cfg.CrashAfter == st.step {
		a.log.Warn("crashing on purpose", "after", st.step)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return s, nil
}

// Ready is the health gate alone, for etcd.service's ExecStartPost: it waits
// until the member answers ready and journals it.
func (a *Agent) Ready(ctx context.Context) error {
	n, err := a.loadPayload(ctx, false)
	if err != nil {
		return fmt.Errorf("%s: %w", StepPayload, err)
	}
	// `up` has exited: this process keeps the learner's claim alive until
	// the promotion, however long etcd takes to start.
	stop := a.keepJournaledClaim(ctx, n)
	defer stop()
	if err := a.waitHealthy(ctx, n, nil, nil); err != nil {
		return fmt.Errorf("%s: %w", StepHealthy, err)
	}
	a.journal.State.LearnerClaim = 0
	// Under systemd `up` took the upgrade and ended; this is its health gate.
	if ups := a.journal.State.Upgrades; len(ups) > 0 && ups[len(ups)-1].Phase == UpgradeStarted {
		ups[len(ups)-1].Phase, ups[len(ups)-1].Done = UpgradeDone, a.cfg.Now().UTC()
	}
	return a.journal.Record(StepHealthy, a.cfg.Now())
}

// supervise forwards SIGTERM and SIGINT to etcd and returns when it exits.
// When the watcher acts on an operator's recovery request, it stops etcd
// and returns errRecoveryRequested.
func (a *Agent) supervise(ctx context.Context, n node, sup *Supervisor) error {
	// The supervisor also keeps the firewall in step with membership.
	wctx, stopWatch := context.WithCancel(ctx)
	requested := make(chan string, 1)
	watched := make(chan struct{})
	var lastGroup atomic.Pointer[groupSeen]
	defer func() {
		stopWatch()
		<-watched // the boot steps that may follow own the journal
	}()
	go func() {
		defer close(watched)
		act := func(_ context.Context, why string) error {
			requested <- why
			return nil
		}
		hooks := watchHooks{runAgain: act, sawGroup: func(g groupSeen) { lastGroup.Store(&g) }}
		if err := a.watch(wctx, n, hooks); err != nil {
			a.log.Warn("watch stopped", "err", err)
		}
	}()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for {
		select {
		case sig := <-sigs:
			a.log.Info("stopping etcd", "signal", sig)
			return sup.Stop(30 * time.Second)
		case <-ctx.Done():
			return sup.Stop(30 * time.Second)
		case why := <-requested:
			a.log.Info("stopping etcd to run the boot steps again", "why", why)
			if err := sup.Stop(30 * time.Second); err != nil {
				return err
			}
			return fmt.Errorf("%s: %w", why, errRecoveryRequested)
		case err := <-sup.Done():
			if err == nil {
				err = errors.New("exit status 0")
			}
			exited := fmt.Errorf("%w (%v); see %s", errEtcdExited, err, sup.LogPath())
			if a.removedAfterExit(ctx, n, lastGroup.Load()) {
				a.log.Warn("etcd exited and the other members list this member no more: running the boot steps again to rejoin", "exit", err)
				return fmt.Errorf("%w: %w", exited, errRecoveryRequested)
			}
			return exited
		}
	}
}

// removedAfterExit reports whether the group that this member last saw
// (nil: it saw none) answers without it, after its etcd exited: etcd
// exits by itself when it learns it was removed ("the member has been
// permanently removed from the cluster"). Any doubt is false, and Up ends
// as for any other exit.
func (a *Agent) removedAfterExit(ctx context.Context, n node, last *groupSeen) bool {
	if last == nil {
		return false
	}
	tlsConf, err := a.watcherTLS(n)
	if err != nil {
		return false
	}
	return droppedBy(ctx, *last, tlsConf)
}
