package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/bootstrap"
)

func newFirewallCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "firewall", Short: "Show or apply the node's nftables policy"}
	var live bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the nftables ruleset as nft text (the payload's policy, or with --live the kernel's)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			text, err := bootstrap.FirewallText(g.cfg.PayloadPath, live)
			if err != nil {
				return err
			}
			cmd.Print(text)
			return nil
		},
	}
	show.Flags().BoolVar(&live, "live", false, "read the policy back from the kernel")
	release := &cobra.Command{
		Use:   "release-peers",
		Short: "Let the peers in once this member's etcd serves, after `up` held them for a new cluster's bootstrap (run by up under systemd)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bootstrap.ReleasePeers(cmd.Context(), g.cfg.PayloadPath, g.cfg.Root, g.cfg.Logger)
		},
	}
	cmd.AddCommand(show, release)
	return cmd
}
