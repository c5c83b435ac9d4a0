package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
)

func newGenerateCommand(g *globalFlags) *cobra.Command {
	var (
		opts        generate.Options
		createToken bool
		tokenTLS    tlsfiles.Files
	)
	cmd := &cobra.Command{
		Use:   "generate -f cluster.yaml -o out/",
		Short: "Write the PKI, node payloads, DNS zone, Prometheus and kubeadm config for a cluster",
		Long: `generate reads a cluster spec and writes, under the output directory:

  pki/          root CA (its key stays here), member server/peer certificates,
                admin, healthcheck-client and kube-apiserver-etcd-client certificates
  nodes/NAME/   node.yaml (the agent's payload), ignition.json and config.bu,
                user-data (#cloud-config), hosts (an /etc/hosts fragment)
  dns/          the SRV zone (dns discovery)
  monitoring/   prometheus.yml, alert rules (rules/etcd.rules.yml) and the
                scrape client certificate
  kubeadm/      the etcd.external stanza of kubeadm's ClusterConfiguration

Rerunning keeps the CA and every key that is still right; --rotate replaces them.`,
		Example: `  etcdboot generate -f examples/three-node-static/cluster.yaml -o out/
  etcdboot generate -f cluster.yaml -o out/ --remap 192.168.2.0/24=10.123.0.0/24`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Logger = g.logger
			if createToken {
				opts.CreateDiscoveryToken = &tokenTLS
			}
			res, err := generate.Run(opts)
			if err != nil {
				return err
			}
			cmd.Print(res.Summary())
			return nil
		},
	}
	f := cmd.Flags()
	addSpecFlags(cmd, &opts.SpecPath, &opts.OutDir, "output directory")
	f.BoolVar(&opts.Rotate, "rotate", false, "issue a new CA and new keys instead of keeping existing ones")
	addRemapFlag(f, &opts.Remaps, "move addresses FROM=TO between same-size subnets, e.g. 192.168.2.0/24=10.123.0.0/24")
	f.BoolVar(&createToken, "create-discovery-token", false, "etcd discovery: also create the token on the discovery cluster (as etcdboot discovery new)")
	f.StringVar(&tokenTLS.CAFile, "discovery-cacert", "", "CA bundle of the discovery cluster")
	f.StringVar(&tokenTLS.CertFile, "discovery-cert", "", "client certificate for the discovery cluster")
	f.StringVar(&tokenTLS.KeyFile, "discovery-key", "", "client key for the discovery cluster")
	return cmd
}
