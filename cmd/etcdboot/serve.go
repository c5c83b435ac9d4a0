package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/internal/lifecycle"
	"github.com/etcdboot/etcdboot/operate/pxe"
)

func newServeCommand(g *globalFlags) *cobra.Command {
	cfg := pxe.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "serve -d out/ --listen :8080 --base-url http://10.123.0.2:8080",
		Short: "Serve PXE-booting machines their own iPXE script, Ignition config or cloud-init seed",
		Long: `serve answers network-booting machines from the generator's output directory,
each with its own payload, chosen by MAC, SMBIOS UUID or DHCP hostname:

  /boot.ipxe                    point DHCP (or an embedded iPXE script) here
  /ipxe?mac=...                 the machine's script: Fedora CoreOS, Flatcar or Debian
  /ignition?mac=...             nodes/NAME/ignition.json
  /cloud-init/MAC/user-data     nodes/NAME/user-data (NoCloud seed, with meta-data)
  /metadata?mac=...             NAME=, IPS=, CLUSTER= lines, no secrets
  /assets/...                   --assets: kernels, initramfs, root file systems

Machines are the members' mac: fields plus the --groups file, a YAML list of
{selector: {mac|uuid|hostname}, node, profile, fetchLimit, allow, allowMemberIPs}.
Payloads carry private keys: --fetch-limit N answers 410 Gone after N fetches
of a node's payload (counted in out/serve-state.json across restarts) until
SIGHUP re-arms every node. The tree is re-read when it changes.`,
		Example: `  etcdboot serve -d out/ --base-url http://10.123.0.2:8080 --assets /srv/assets
  etcdboot serve -d out/ --listen 10.123.0.2:8443 --tls --groups groups.yaml --fetch-limit 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = g.logger
			ctx, hup, stop := lifecycle.Signals(cmd.Context(), true)
			defer stop()
			return pxe.Run(ctx, cfg, hup, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfg.Dir, "dir", "d", cfg.Dir, "the generator's output directory")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "TCP address to listen on")
	f.BoolVar(&cfg.TLS, "tls", false, "serve https with a certificate from out/pki/ca.crt (kept in out/pki/serve.crt), at the payloads' tls.minVersion (TLS 1.3 unless TLS1.2)")
	f.StringArrayVar(&cfg.Hostnames, "hostname", nil, "extra DNS name or IP for the TLS certificate (repeatable)")
	f.StringVar(&cfg.GroupsFile, "groups", "", "groups file: machines by mac, uuid or hostname, with profiles and restrictions")
	f.StringVar(&cfg.BaseURL, "base-url", "", "URL machines reach this server at (default: the listen address)")
	f.StringVar(&cfg.AssetsDir, "assets", "", "directory served at /assets/ (kernels, initramfs, root file systems)")
	f.IntVar(&cfg.FetchLimit, "fetch-limit", 0, "fetches of each node's payload before 410 Gone until re-armed (0: no limit)")
	f.DurationVar(&cfg.ReloadInterval, "reload-interval", cfg.ReloadInterval, "how often to check the tree for changes (negative: never)")
	return cmd
}
