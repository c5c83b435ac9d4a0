package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/internal/lifecycle"
)

func newDNSCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "dns", Short: "Serve the cluster's SRV zone for labs and PXE networks"}
	var (
		cfg     discovery.ServerConfig
		keyFile string
	)
	serve := &cobra.Command{
		Use:   "serve -z out/dns/DOMAIN.zone",
		Short: "Answer the zone authoritatively over UDP and TCP and accept TSIG-signed updates",
		Long: `serve answers the generated zone (SRV, A, AAAA, SOA, NS) authoritatively.
Members that register themselves (discovery.dns.register) send RFC 2136
updates signed with the generator's key (out/dns/tsig.yaml, found next to the
zone); unsigned or wrongly signed updates are refused. Accepted updates are
written back to the zone file atomically, so a restart loses nothing.`,
		Example: `  etcdboot dns serve -z out/dns/etcd.example.internal.zone --listen 10.0.0.2:53`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = g.logger
			full, err := discovery.ServeConfigFor(cfg, keyFile)
			if err != nil {
				return err
			}
			ctx, _, stop := lifecycle.Signals(cmd.Context(), false)
			defer stop()
			return discovery.Serve(ctx, full, cmd.OutOrStdout())
		},
	}
	f := serve.Flags()
	f.StringVarP(&cfg.ZoneFile, "zone", "z", "", "zone file written by etcdboot generate (out/dns/DOMAIN.zone)")
	f.StringVar(&cfg.Origin, "origin", "", "the zone's domain (default: from the file name)")
	f.StringVar(&cfg.Listen, "listen", ":53", "UDP and TCP address to answer on")
	f.StringVar(&keyFile, "tsig-key", "", "TSIG key file for updates (default: tsig.yaml next to the zone, if present)")
	_ = serve.MarkFlagRequired("zone")
	cmd.AddCommand(serve)
	return cmd
}
