package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/bootstrap/maintenance"
)

func newDefragCommand(g *globalFlags) *cobra.Command {
	opts := maintenance.Options{}
	var now bool
	cmd := &cobra.Command{
		Use:   "defrag",
		Short: "Run a maintenance round: defragment fragmented members one at a time, the leader last, and heal NOSPACE (etcdboot-defrag.timer)",
		Long: `defrag runs one round of the payload's maintenance schedule. It asks every
member for its database size and size in use, the leader, learners, alarms
and health, and skips (saying why) while a voter is unhealthy, an alarm
other than NOSPACE is raised, a learner waits for its promotion, outside
maintenance.window, or when no member is over maintenance.fragmentation.
Otherwise it takes the cluster-wide lock (the one joins and upgrades take;
it skips when the lock stays held for --lock-timeout) and defragments the members over the threshold one at a time: followers
first, the leader last after moving leadership away, each answering healthy
again before the next.

With NOSPACE raised it heals whatever the window and threshold: compaction
to the current revision minus maintenance.spaceAlarm.retention, every member
defragmented, the alarm disarmed once every database is below the quota by
the margin. etcd refuses the lock while NOSPACE stands, so the agent of the
healthy voter with the lowest ID heals; the others skip.

Each round is recorded in --state-dir/maintenance.json, which
etcdboot-agent watch exports as metrics. A failed round exits non-zero.
--now runs a round by hand: the window does not apply, the threshold and
every safety check do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.PayloadPath, opts.Root, opts.StateDir, opts.Logger = g.cfg.PayloadPath, g.cfg.Root, g.cfg.StateDir, g.cfg.Logger
			opts.Trigger = maintenance.TriggerTimer
			if now {
				opts.Trigger, opts.Out = maintenance.TriggerManual, cmd.OutOrStdout()
			}
			return maintenance.Run(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&now, "now", false, "run a round by hand now: ignore maintenance.window and print what was done")
	f.StringVar(&opts.Endpoint, "endpoint", "", "this member's client URL (default: the payload node's first address)")
	f.DurationVar(&opts.LockTimeout, "lock-timeout", maintenance.DefaultLockTimeout, "how long to wait for the cluster-wide lock (a join or an upgrade holds it)")
	f.DurationVar(&opts.DefragTimeout, "defrag-timeout", maintenance.DefaultDefragTimeout, "how long one member's defragmentation may take")
	f.DurationVar(&opts.HealthTimeout, "health-timeout", maintenance.DefaultHealthTimeout, "how long a member may take to answer again after its defragmentation")
	return cmd
}
