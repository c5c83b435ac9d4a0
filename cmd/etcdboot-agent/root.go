package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/internal/cli"
	"github.com/etcdboot/etcdboot/internal/version"
)

type globalFlags struct {
	logLevel string
	cfg      bootstrap.Config
}

func newRootCommand() *cobra.Command {
	g := &globalFlags{cfg: bootstrap.DefaultConfig()}
	root := &cobra.Command{
		Use:   "etcdboot-agent",
		Short: "Bring this node's etcd member up from its payload",
		Long: `etcdboot-agent runs on every etcd node at boot. It reads the node payload
(/etc/etcdboot/node.yaml), firewalls the node with nftables, discovers its
peers, decides whether to form a new cluster or restart its member, writes
etcd's configuration and starts etcd, then waits until the member is ready.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) (err error) {
			g.cfg.Logger, err = cli.Logger(os.Stderr, g.logLevel)
			return err
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	f.StringVar(&g.cfg.PayloadPath, "payload", g.cfg.PayloadPath, "node payload file")
	f.StringVar(&g.cfg.StateDir, "state-dir", g.cfg.StateDir, "directory for the journal, etcd.pid and etcd.log")
	f.StringVar(&g.cfg.Root, "root", "", "prefix for every path the payload names (a node's root in tests and images)")
	f.DurationVar(&g.cfg.RenewInterval, "renew-interval", g.cfg.RenewInterval, "how often self-minted certificates are checked for renewal (autoscaling groups)")
	root.AddCommand(newUpCommand(g), newReadyCommand(g), newLeaveCommand(g), newWatchCommand(g), newBackupCommand(g), newDefragCommand(g), newFirewallCommand(g), newCertsCommand(g), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the agent's version",
		Run: func(cmd *cobra.Command, _ []string) {
			cmd.Println("etcdboot-agent", version.String())
		},
	}
}
