package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/internal/cli"
)

func newUpCommand(g *globalFlags) *cobra.Command {
	var crashAfter string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Firewall the node, decide the member's plan, start etcd and wait until it is ready",
		Long: `up runs the agent's steps in order: payload, firewall, discovery, plan,
data dir, config, start, healthy. Each completed step is journaled in
--state-dir; a rerun after a crash resumes safely.

With --exec the agent starts etcd itself and stays in the foreground,
forwarding SIGTERM/SIGINT to it (containers, network namespaces). Without it
the agent hands etcd over to systemd (etcd.service) and exits once the
member is ready.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g.cfg.CrashAfter = bootstrap.Step(crashAfter)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			agent, err := bootstrap.NewAgent(g.cfg)
			if err != nil {
				return err
			}
			return agent.Up(ctx)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&g.cfg.Exec, "exec", false, "supervise etcd as a child instead of starting etcd.service")
	f.StringVar(&g.cfg.EtcdBinary, "etcd-binary", g.cfg.EtcdBinary, "etcd executable (with --exec)")
	f.StringVar(&g.cfg.Unit, "unit", g.cfg.Unit, "systemd unit that runs etcd")
	f.StringVar(&g.cfg.EtcdConfigDir, "etcd-config-dir", g.cfg.EtcdConfigDir, "where etcd.conf and etcd.yaml are written (under --root)")
	f.DurationVar(&g.cfg.HealthTimeout, "health-timeout", g.cfg.HealthTimeout, "how long to wait for the member to become ready")
	f.DurationVar(&g.cfg.AddressTimeout, "address-timeout", g.cfg.AddressTimeout, "how long to wait for the host to carry the member's address before giving up")
	f.DurationVar(&g.cfg.DiscoveryTimeout, "discovery-timeout", g.cfg.DiscoveryTimeout, "how long to retry discovery (DNS records, discovery tokens) before giving up")
	f.StringVar(&crashAfter, "crash-after", "", "testing: kill the agent with SIGKILL right after this step")
	_ = f.MarkHidden("crash-after")
	return cmd
}

func newReadyCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ready",
		Short: "Wait until this node's member answers ready (etcd.service's ExecStartPost)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			agent, err := bootstrap.NewAgent(g.cfg)
			if err != nil {
				return err
			}
			return agent.Ready(cmd.Context())
		},
	}
	cmd.Flags().DurationVar(&g.cfg.HealthTimeout, "health-timeout", g.cfg.HealthTimeout, "how long to wait for the member to become ready")
	return cmd
}

func newLeaveCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "Leave the cluster gracefully: remove this member if quorum survives, deregister, stop etcd",
		Long: `leave is for scale-in (a lifecycle hook, or the unit on shutdown). It refuses
when removing this member could lose quorum or while another member is
unhealthy, moves leadership away first, removes the member, deletes its DNS
records (when it registered them) and stops etcd. Data is kept on disk.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			agent, err := bootstrap.NewAgent(g.cfg)
			if err != nil {
				return err
			}
			return agent.Leave(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&g.cfg.Exec, "exec", false, "etcd runs under an agent's --exec supervisor, not systemd")
	return cmd
}

func newWatchCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "watch",
		Short: "Keep the firewall's peer set in step with the cluster's membership (a long-running unit)",
		Long: `watch lets members being added (announced under /etcdboot/pending-peers/)
through the firewall before they are added, and shuts removed members out.
When its member must run the boot steps again (an operator's recovery
request while no quorum answers, or the group removed it while it was cut
off) it exits with status 75, on which etcdboot-watch.service restarts
etcdboot-agent.service. With up --exec the supervising agent does all this
itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			agent, err := bootstrap.NewAgent(g.cfg)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = agent.Watch(ctx)
			if errors.Is(err, bootstrap.ErrRunBootStepsAgain) {
				return &cli.ExitError{Code: bootstrap.ExitRunBootStepsAgain, Err: err}
			}
			return err
		},
	}
}
