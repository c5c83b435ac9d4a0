package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/internal/cli"
	"github.com/etcdboot/etcdboot/internal/version"
)

type globalFlags struct {
	logLevel string
	logger   *slog.Logger
}

func newRootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "etcdboot",
		Short: "Generate etcd clusters that bootstrap themselves",
		Long: `etcdboot turns a short cluster description into etcd members that come up
on their own: no SSH, no hand-copied certificates, no hand-edited config.

  etcdboot generate -f cluster.yaml -o out/   PKI, per-node Ignition and cloud-init
                                              payloads, DNS zone, Prometheus and
                                              kubeadm configuration
  etcdboot status -f cluster.yaml             health and status of every member

Each node runs etcdboot-agent at boot; it reads the payload, firewalls the
node, finds its peers and brings its member up.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) (err error) {
			g.logger, err = cli.Logger(os.Stderr, g.logLevel)
			return err
		},
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	root.AddCommand(newGenerateCommand(g), newStatusCommand(g), newServeCommand(g), newDNSCommand(g), newDiscoveryCommand(g), newSnapshotCommand(g), newBackupCommand(g), newRestoreCommand(g), newCertsCommand(g), newAuditCommand(g), newUpgradeCommand(g), newRecoverCommand(g), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print etcdboot's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			cmd.Println("etcdboot", version.String())
		},
	}
}
