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
	cmd.AddCommand(show)
	return cmd
}
