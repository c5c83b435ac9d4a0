package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/internal/render"
)

func newCertsCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "certs", Short: "Install this node's rotated certificates while etcd runs"}
	var userData string
	out := render.NewFlag(render.FormatTable, render.FormatJSON)
	install := &cobra.Command{
		Use:   "install --user-data FILE",
		Short: "Install the server and peer certificates of this node's new user-data without restarting etcd",
		Long: `install takes this node's server and peer certificates and keys from its new
cloud-init user-data (out/nodes/NAME/user-data, rewritten by etcdboot certs
rotate) and puts them in place of the installed ones. It first checks that the
user-data is this node's, that the CA is unchanged, and that every certificate
matches its key, verifies to the CA and is valid for this node's addresses;
on any problem nothing changes. etcd reads its certificate files at every new
TLS handshake, so new connections get the new certificates at once and etcd
keeps running; so does the agent's metrics endpoint.`,
		Example: `  etcdboot-agent certs install --user-data /run/etcdboot/user-data`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			agent, err := bootstrap.NewAgent(g.cfg)
			if err != nil {
				return err
			}
			installed, err := agent.InstallUserData(userData)
			if err != nil {
				return err
			}
			return render.Write(cmd.OutOrStdout(), out.Format, bootstrap.InstalledTable(installed), installed)
		},
	}
	f := install.Flags()
	f.StringVar(&userData, "user-data", "", "this node's new cloud-init user-data")
	f.VarP(out, "write-out", "w", out.Usage())
	_ = install.MarkFlagRequired("user-data")
	cmd.AddCommand(install)
	return cmd
}
