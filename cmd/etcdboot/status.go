package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/internal/status"
)

func newStatusCommand(_ *globalFlags) *cobra.Command {
	var (
		opts     status.Options
		specPath string
		pkiDir   string
		output   string
	)
	cmd := &cobra.Command{
		Use:   "status [--endpoints URLs | -f cluster.yaml]",
		Short: "Health and status of every member, like etcdctl endpoint health/status -w table",
		Long: `status asks every endpoint, over mTLS, whether it is healthy (a linearizable
read, as etcdctl endpoint health does) and for its status: member ID, version,
DB size, leader, learner, raft term and index. It exits non-zero when any
endpoint is unhealthy.

With -f, the endpoints come from the cluster spec and the certificates from
the generator's output (--pki, default out/pki: ca.crt and healthcheck-client).`,
		Example: `  etcdboot status -f cluster.yaml
  etcdboot status --endpoints https://10.0.0.1:2379 --cacert ca.crt --cert admin.crt --key admin.key -w json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if specPath != "" {
				if err := status.FromSpec(&opts, specPath, pkiDir); err != nil {
					return err
				}
			}
			rep, err := status.Check(cmd.Context(), opts)
			if err != nil {
				return err
			}
			switch output {
			case "table":
				err = status.WriteTable(cmd.OutOrStdout(), rep)
			case "json":
				err = status.WriteJSON(cmd.OutOrStdout(), rep)
			default:
				return fmt.Errorf("-w %q: use table or json", output)
			}
			if err != nil {
				return err
			}
			if !rep.Healthy() {
				cmd.SilenceErrors = true
				os.Exit(2)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&opts.Endpoints, "endpoints", nil, "client URLs of the members")
	f.StringVarP(&specPath, "file", "f", "", "cluster spec: take the endpoints from its members")
	f.StringVar(&pkiDir, "pki", filepath.Join("out", "pki"), "generator PKI directory used with -f")
	f.StringVar(&opts.CAFile, "cacert", "", "CA bundle")
	f.StringVar(&opts.CertFile, "cert", "", "client certificate")
	f.StringVar(&opts.KeyFile, "key", "", "client key")
	f.DurationVar(&opts.Timeout, "timeout", status.DefaultTimeout, "per-endpoint timeout")
	f.StringVarP(&output, "write-out", "w", "table", "output format: table or json")
	return cmd
}
