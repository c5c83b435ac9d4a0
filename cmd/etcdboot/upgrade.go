package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/internal/render"
	"github.com/etcdboot/etcdboot/operate/rollout"
)

func newUpgradeCommand(_ *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Plan an etcd release roll of a running cluster, or enable a downgrade",
		Long: `Members change etcd release when they boot an image that carries another
one; their agents apply etcd's upgrade rules and take turns under a
cluster-wide lock. upgrade plan checks a running cluster against the same
rules before you roll; upgrade downgrade runs etcd's downgrade procedure, the
one way back to an older minor release.`,
	}
	cmd.AddCommand(newUpgradePlanCommand(), newUpgradeDowngradeCommand())
	return cmd
}

// rolloutFlags are the ways to reach the cluster: -f and the generator's
// PKI (admin certificate), or --endpoints with etcdctl's flags.
type rolloutFlags struct {
	opts             rollout.Options
	specPath, pkiDir string
}

// add adds the flags to cmd, whose PreRunE completes the options from -f
// when it is given.
func (rf *rolloutFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceVar(&rf.opts.Endpoints, "endpoints", nil, "client URLs of the members")
	addMemberFlags(f, &rf.specPath, &rf.pkiDir, &rf.opts.TLS.CAFile, &rf.opts.TLS.CertFile, &rf.opts.TLS.KeyFile)
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if rf.specPath == "" {
			return nil
		}
		return rf.opts.FromSpec(rf.specPath, rf.pkiDir)
	}
}

func newUpgradePlanCommand() *cobra.Command {
	var (
		rf rolloutFlags
		to string
	)
	cmd := &cobra.Command{
		Use:   "plan -f cluster.yaml --to 3.7.3",
		Short: "Check a running cluster against etcd's upgrade rules and list the steps of a roll",
		Long: `plan asks every member for its etcd release, storage version, health and
alarms, and the cluster for its version and any enabled downgrade, then
simulates the roll member by member with the rules each agent applies:
followers first, the leader last. It prints the steps, or why the roll cannot
be taken (a skipped minor release, 3.5 older than 3.5.26 to 3.6, a downgrade
that is not enabled), and exits 2 when it cannot.`,
		Example: `  etcdboot upgrade plan -f cluster.yaml --to 3.7.3`,
		Args:    cobra.NoArgs,
	}
	out := addWriteOut(cmd, render.FormatTable, render.FormatJSON)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		p, err := rollout.MakePlan(cmd.Context(), rf.opts, to)
		if err != nil {
			return err
		}
		return writeOut(cmd, out, p.Writers(), p.Refused != "")
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the etcd release the new image carries, e.g. 3.7.3")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func newUpgradeDowngradeCommand() *cobra.Command {
	var (
		rf rolloutFlags
		to string
	)
	cmd := &cobra.Command{
		Use:   "downgrade -f cluster.yaml --to 3.6",
		Short: "Enable etcd's downgrade to an older minor release (etcd 3.6+)",
		Long: `downgrade runs etcd's downgrade procedure: validate, then enable. The
cluster version drops to the target; then boot the members onto an image
with that release one at a time, as for an upgrade: their agents accept the
older binary only while the cluster reports this downgrade.`,
		Example: `  etcdboot upgrade downgrade -f cluster.yaml --to 3.6`,
		Args:    cobra.NoArgs,
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		res, err := rollout.Downgrade(cmd.Context(), rf.opts, to)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "downgrade to %s enabled (cluster version was %s); now boot the members onto an image with etcd %s, one at a time\n", res.Target, res.ClusterVersion, res.Target)
		return err
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&to, "to", "", "the older minor release, e.g. 3.6")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}
