package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/bootstrap"
)

func newFirewallCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "firewall", Short: "Show the node's nftables policy, or lift the peer hold of a new cluster's bootstrap"}
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
	var peerURL string
	release := &cobra.Command{
		Use:   "release-peers --peer-url https://ADDR:2380",
		Short: "Let the peers in once this member's etcd serves its peer port, after up held them for a new cluster's bootstrap (up starts it under systemd)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bootstrap.ReleasePeers(cmd.Context(), g.cfg.PayloadPath, g.cfg.Root, peerURL, g.cfg.Logger)
		},
	}
	release.Flags().StringVar(&peerURL, "peer-url", "", "this member's peer URL")
	_ = release.MarkFlagRequired("peer-url")
	cmd.AddCommand(show, release)
	return cmd
}
