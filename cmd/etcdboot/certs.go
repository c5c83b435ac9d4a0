package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/internal/render"
	"github.com/etcdboot/etcdboot/operate/rotation"
)

func newCertsCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "certs", Short: "Check certificate expiry and chains, or rotate every certificate under the same CA"}
	cmd.AddCommand(newCertsCheckCommand(g), newCertsRotateCommand(g))
	return cmd
}

func newCertsCheckCommand(_ *globalFlags) *cobra.Command {
	var (
		opts     rotation.CheckOptions
		specPath string
	)
	cmd := &cobra.Command{
		Use:   "check [-f cluster.yaml | --dir out/pki | --endpoints URLs] [FILE...]",
		Short: "Report when each certificate expires and whether it verifies to the cluster CA",
		Long: `check reads certificates from files (FILE..., every *.crt in --dir) and from
the chains endpoints serve, and reports for each: subject, SANs, NotAfter, days
left, whether it verifies to the CA (--cacert, default the directory's ca.crt,
through the intermediates that came with it) and whether its key usages fit its
role (server, peer, client, CA). It exits 2 when a certificate expires within
--threshold or is invalid, so it can run from cron or CI.

With -f, the endpoints are the members' client URLs and the directory is the
generator's (--dir, default out/pki), whose healthcheck-client certificate is
presented to the members.`,
		Example: `  etcdboot certs check -f cluster.yaml
  etcdboot certs check --dir out/pki --threshold 2160h -w json
  etcdboot certs check --endpoints https://10.0.0.1:2379 --cacert ca.crt /etc/etcdboot/pki/peer.crt`,
	}
	out := addWriteOut(cmd, render.FormatTable, render.FormatJSON)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opts.Files = args
		if specPath != "" {
			if err := rotation.FromSpec(&opts, specPath); err != nil {
				return err
			}
		}
		rep, err := rotation.Check(cmd.Context(), opts)
		if err != nil {
			return err
		}
		return writeOut(cmd, out, rep.Writers(), !rep.OK())
	}
	f := cmd.Flags()
	f.StringVarP(&specPath, "file", "f", "", "cluster spec: check its members' endpoints and the generator's PKI directory")
	f.StringVar(&opts.Dir, "dir", "", "PKI directory: check every *.crt in it, trusting its ca.crt (default with -f: out/pki)")
	f.StringSliceVar(&opts.Endpoints, "endpoints", nil, "TLS endpoints whose served chain to check (https://host:port or host:port)")
	f.StringVar(&opts.CAFile, "cacert", "", "CA bundle to verify against (default: ca.crt in --dir)")
	f.StringVar(&opts.CertFile, "cert", "", "client certificate to present to endpoints")
	f.StringVar(&opts.KeyFile, "key", "", "client key")
	f.DurationVar(&opts.Threshold, "threshold", 0, "report certificates expiring within this as expiring (default 720h; with -f, a third of the certificates' life when shorter, as the alert)")
	f.DurationVar(&opts.Timeout, "timeout", rotation.DefaultTimeout, "per-endpoint timeout")
	return cmd
}

func newCertsRotateCommand(g *globalFlags) *cobra.Command {
	var (
		opts   rotation.LiveOptions
		issuer bool
	)
	cmd := &cobra.Command{
		Use:   "rotate -f cluster.yaml -o out/ [--issuer]",
		Short: "Reissue every certificate below the CA with new keys and rewrite the payloads",
		Long: `rotate reissues every certificate the generator made below the root CA
(members' server and peer certificates, the client certificates, an
autoscaling group's intermediate), each with a new key, and rewrites the node
payloads, monitoring and kubeadm files with them. The CA stays, so members
holding old and new certificates trust each other during the rollout. The
previous files are moved to out/pki/rotated-TIME/; a failed run puts them back.

With --issuer, only an autoscaling group's intermediate is renewed, under
the same root, and published to the running group at /etcdboot/issuer with
the admin certificate: each member's watcher checks it and renews its own
certificates with it, and out/nodes/launch carries it for new instances.

With --ca, the root CA is replaced in three phases, one per run, without
restarting etcd: (a) every CA file becomes the bundle of the old and a new CA,
(b) every certificate is reissued by the new CA, (c) the old CA is dropped.
Each run first checks, by new TLS handshakes with every member, that the
members took the previous phase (etcdboot-agent certs install); the state is
out/pki/ca-rotation.json and certs check shows it. For an autoscaling group,
each phase is published through the group (/etcdboot/ca, and the new CA's
issuer at /etcdboot/issuer) and every member's watcher installs it.

Pass the --remap options the output was generated with.`,
		Example: `  etcdboot certs rotate -f cluster.yaml -o out/
  etcdboot certs rotate --issuer -f cluster.yaml -o out/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Logger = g.logger
			if cmd.Flags().Changed("ca") {
				res, err := rotation.RotateCA(cmd.Context(), opts)
				if res != nil {
					if werr := rotation.WriteCARotation(cmd.OutOrStdout(), res); werr != nil {
						return werr
					}
				}
				return err
			}
			if issuer {
				res, err := rotation.RotateIssuer(cmd.Context(), opts)
				if err != nil {
					return err
				}
				return rotation.WriteIssuerRotation(cmd.OutOrStdout(), res)
			}
			res, err := rotation.Rotate(opts.RotateOptions)
			if err != nil {
				return err
			}
			return rotation.WriteRotation(cmd.OutOrStdout(), res)
		},
	}
	f := cmd.Flags()
	f.Bool("ca", false, "replace the root CA: check the members and write the next of the three phases")
	f.StringSliceVar(&opts.Endpoints, "endpoints", nil, "with --ca or --issuer: the members' client URLs (default: the spec's, a group's seeds)")
	addSpecFlags(cmd, &opts.SpecPath, &opts.OutDir, "the generator's output directory")
	addRemapFlag(f, &opts.Remaps, "the --remap FROM=TO options the output was generated with")
	f.BoolVar(&issuer, "issuer", false, "renew only the autoscaling group's issuer and publish it to the running group")
	return cmd
}
