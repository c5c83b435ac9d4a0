package maintenance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/internal/render"
	"github.com/etcdboot/etcdboot/spec"
)

// What started a round.
const (
	// TriggerTimer is etcdboot-defrag.timer: the window applies.
	TriggerTimer = "timer"
	// TriggerManual is `etcdboot-agent defrag --now`: the window does not
	// apply; the threshold and every safety check do.
	TriggerManual = "manual"
	// TriggerAlarm is the watcher, which saw NOSPACE raised: the round only
	// heals, and records nothing when there is nothing for it to heal.
	TriggerAlarm = "alarm"
)

// Defaults of Options.
const (
	DefaultLockTimeout   = 2 * time.Minute
	DefaultDefragTimeout = 10 * time.Minute
	DefaultHealthTimeout = time.Minute
)

// Options say where the node's payload and state are and how long to wait.
type Options struct {
	// PayloadPath is the node payload (node.yaml), outside Root.
	PayloadPath string
	// Root prefixes every path the payload names: "" on a real node.
	Root string
	// StateDir holds StateFile and the round lock.
	StateDir string
	// Endpoint is this member's client URL; by default the payload node's
	// first address, or 127.0.0.1 for a launch payload.
	Endpoint string
	// Trigger is TriggerTimer (the default), TriggerManual or TriggerAlarm.
	Trigger string
	// LockTimeout bounds the wait for the cluster-wide lock, DefragTimeout
	// one member's defragmentation, HealthTimeout the wait for a member to
	// answer again (or for leadership to move).
	LockTimeout   time.Duration
	DefragTimeout time.Duration
	HealthTimeout time.Duration
	// Out, when set, receives a line per member defragmented and the
	// round's outcome, for an operator at a terminal.
	Out    io.Writer
	Logger *slog.Logger
	// Now is the clock; tests may set it.
	Now func() time.Time
}

func (o *Options) applyDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Trigger == "" {
		o.Trigger = TriggerTimer
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.DefragTimeout <= 0 {
		o.DefragTimeout = DefaultDefragTimeout
	}
	if o.HealthTimeout <= 0 {
		o.HealthTimeout = DefaultHealthTimeout
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
}

// ErrRoundFailed is wrapped by the error of a round that failed.
var ErrRoundFailed = errors.New("maintenance round failed")

// Run runs one round and records it; a round that skips succeeds.
func Run(ctx context.Context, opts Options) error {
	_, err := RunRound(ctx, opts)
	return err
}

// RunRound runs one round and records it in the state file, except a
// round the watcher started (TriggerAlarm) that found nothing for this
// agent to heal.
func RunRound(ctx context.Context, opts Options) (Round, error) {
	opts.applyDefaults()
	unlock, err := lockRounds(opts.StateDir)
	if err != nil {
		return Round{}, err
	}
	defer unlock()
	r := Round{Kind: KindDefrag, Trigger: opts.Trigger, Started: opts.Now()}
	err = runRound(ctx, opts, &r)
	r.Finished = opts.Now()
	switch {
	case err != nil:
		r.Result, r.Error = ResultFailed, err.Error()
	case r.Result == "":
		r.Result = ResultOK
	}
	for _, m := range r.Members {
		r.Reclaimed += max(m.Before-m.After, 0)
	}
	if r.Result == ResultSkipped && opts.Trigger == TriggerAlarm {
		return r, nil
	}
	if rerr := recordRound(opts.StateDir, r); rerr != nil {
		err = errors.Join(err, rerr)
	}
	report(opts, r)
	if err != nil {
		return r, fmt.Errorf("%w: %w", ErrRoundFailed, err)
	}
	return r, nil
}

// report logs the round and writes it to Out.
func report(opts Options, r Round) {
	log := opts.Logger.With("member", r.Member, "kind", r.Kind, "result", r.Result, "trigger", r.Trigger)
	switch r.Result {
	case ResultOK:
		log.Info("maintenance round done", "reason", r.Reason, "members", len(r.Members), "reclaimed", r.Reclaimed, "compacted", r.Compacted, "disarmed", r.Disarmed, "took", r.Duration())
	case ResultSkipped:
		log.Info("maintenance round skipped", "reason", r.Reason)
	}
	for _, m := range r.Members {
		moved := ""
		if m.MovedLeaderTo != "" {
			moved = ", the leader: leadership moved to " + m.MovedLeaderTo + " first"
		}
		fmt.Fprintf(opts.Out, "defragmented %s: %s -> %s in %v%s\n", m.Name, render.Bytes(m.Before), render.Bytes(m.After), m.Took.Round(time.Millisecond), moved)
	}
	switch r.Result {
	case ResultOK:
		fmt.Fprintf(opts.Out, "%s round done: %s reclaimed", r.Kind, render.Bytes(r.Reclaimed))
		if r.Compacted > 0 {
			fmt.Fprintf(opts.Out, ", compacted to revision %d", r.Compacted)
		}
		if r.Disarmed {
			fmt.Fprint(opts.Out, ", NOSPACE disarmed")
		}
		fmt.Fprintln(opts.Out)
	case ResultSkipped:
		fmt.Fprintf(opts.Out, "skipped: %s\n", r.Reason)
	}
}

// node is what a round needs from the payload, with paths under Root.
type node struct {
	etcdconfig.LocalMember
	maintenance spec.Maintenance
	quota       int64
}

func loadNode(opts Options) (node, error) {
	l, err := etcdconfig.LoadLocalMember(opts.PayloadPath, opts.Root, opts.Endpoint)
	if err != nil {
		return node{}, err
	}
	if l.Payload.Maintenance == nil {
		return node{}, etcdconfig.MissingSection(opts.PayloadPath, "maintenance")
	}
	m := *l.Payload.Maintenance
	m.ApplyDefaults()
	return node{LocalMember: l, maintenance: m, quota: l.Payload.Etcd.QuotaBytes()}, nil
}

// runRound fills r: observe, decide, take the lock and decide again on what
// is then observed, act.
func runRound(ctx context.Context, opts Options, r *Round) error {
	n, err := loadNode(opts)
	if err != nil {
		return err
	}
	tlsConf, err := n.TLS.ClientConfig()
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	c := newClients(tlsConf)
	defer c.close()
	self, err := c.status(ctx, n.Endpoint)
	if err != nil {
		return fmt.Errorf("this member: %w; is etcd running?", err)
	}
	selfID := self.Header.MemberId
	policy := PolicyOf(n.maintenance)
	policy.IgnoreWindow = opts.Trigger == TriggerManual
	obs, err := c.observe(ctx, n.Endpoint, opts.Now())
	if err != nil {
		return err
	}
	r.Member = memberName(obs, selfID)
	d := Decide(obs, policy)
	if opts.Trigger == TriggerAlarm && d.Kind != KindHeal {
		d = Decision{Skip: true, Reason: "no NOSPACE alarm to heal"}
	}
	if d.Skip {
		r.Result, r.Reason = ResultSkipped, d.Reason
		return nil
	}
	// Joins, upgrades and rounds change one member at a time.
	selfCli, err := c.to(n.Endpoint)
	if err != nil {
		return err
	}
	lock, err := lockCluster(ctx, selfCli, opts.LockTimeout)
	switch {
	case err == nil:
		defer lock.release()
		r.Lock = "held"
		// Someone else may have done the work while this round waited.
		if obs, err = c.observe(ctx, n.Endpoint, opts.Now()); err != nil {
			return err
		}
		d = Decide(obs, policy)
	case errors.Is(err, errNoSpaceLock) && d.Kind == KindHeal:
		if healer := Healer(obs); healer != selfID {
			r.Result, r.Kind = ResultSkipped, KindHeal
			r.Reason = fmt.Sprintf("NOSPACE refuses the cluster-wide lock; the agent of %s (the healthy voter with the lowest ID) heals it", memberName(obs, healer))
			return nil
		}
		held, err := lockHeld(ctx, selfCli)
		if err != nil {
			return err
		}
		if held {
			r.Result, r.Kind = ResultSkipped, KindHeal
			r.Reason = "NOSPACE is raised but the cluster-wide lock is held (a join, an upgrade or a round begun before the alarm); healing waits until it is free"
			return nil
		}
		r.Lock = "healer"
	case errors.Is(err, errLockBusy):
		// Busy is no failure: the next round tries again.
		r.Result, r.Kind = ResultSkipped, d.Kind
		r.Reason = err.Error() + "; the next round tries again"
		return nil
	default:
		return err
	}
	r.Kind, r.Reason = d.Kind, d.Reason
	if d.Skip {
		r.Result = ResultSkipped
		return nil
	}
	a := &actor{c: c, log: opts.Logger, now: opts.Now, defragTimeout: opts.DefragTimeout, healthTimeout: opts.HealthTimeout}
	if d.Kind == KindHeal {
		return heal(ctx, a, n, obs, d, r)
	}
	r.Members, err = a.defragment(ctx, d.Steps, obs.Members)
	return err
}

// heal compacts, defragments every member and disarms NOSPACE once every
// database is below the quota with the margin.
func heal(ctx context.Context, a *actor, n node, obs Observed, d Decision, r *Round) error {
	sa := n.maintenance.SpaceAlarm
	rev, current, err := a.compact(ctx, n.Endpoint, sa.Retention)
	if err != nil {
		return err
	}
	r.Compacted = rev
	if r.Members, err = a.defragment(ctx, d.Steps, obs.Members); err != nil {
		return err
	}
	after, err := a.c.observe(ctx, n.Endpoint, a.now())
	if err != nil {
		return err
	}
	if ok, why := CanDisarm(after.Members, n.quota, float64(sa.Margin)); !ok {
		if rev == 0 {
			why = fmt.Sprintf("nothing was compacted (the current revision, %d, is within maintenance.spaceAlarm.retention, %d); %s", current, sa.Retention, why)
		}
		return errors.New(why)
	}
	if err := a.disarm(ctx, n.Endpoint, append(obs.Alarms, after.Alarms...)); err != nil {
		return err
	}
	r.Disarmed = true
	return nil
}

func memberName(o Observed, id uint64) string {
	for _, m := range o.Members {
		if m.ID == id {
			return nameOf(m)
		}
	}
	return fmt.Sprintf("%x", id)
}
