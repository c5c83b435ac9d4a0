package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/bootstrap/backup"
)

func newBackupCommand(g *globalFlags) *cobra.Command {
	opts := backup.Options{}
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Run a backup round: snapshot, verify, prune and upload if this member is the writer (etcdboot-backup.timer)",
		Long: `backup runs one round of the payload's backup schedule. Only the round's
writer (the current leader, or the member backup.writer names) takes a
snapshot; the others record "skipped" and exit 0. The writer streams a
snapshot into backup.dir, verifies it (etcd's hash, revision and key count),
restores it into a scratch directory with testRestore, prunes snapshots
beyond backup.retention and runs backup.upload. Each round is recorded in
--state-dir/backup.json, which etcdboot-agent watch exports as metrics.
A failed round exits non-zero.

With --every the rounds repeat in the foreground (exec mode, tests) instead
of being started by etcdboot-backup.timer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts.PayloadPath, opts.Root, opts.StateDir, opts.Logger = g.cfg.PayloadPath, g.cfg.Root, g.cfg.StateDir, g.cfg.Logger
			return backup.Run(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&opts.Every, "every", 0, "repeat a round every this long in the foreground; 0 runs one round")
	f.IntVar(&opts.Rounds, "rounds", 0, "with --every, stop after this many rounds; 0 runs until stopped")
	f.StringVar(&opts.Endpoint, "endpoint", "", "this member's client URL (default: the payload node's first address)")
	return cmd
}
