package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/internal/render"
	"github.com/etcdboot/etcdboot/internal/status"
)

func newStatusCommand(_ *globalFlags) *cobra.Command {
	var (
		opts     status.Options
		specPath string
		pkiDir   string
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
	}
	out := addWriteOut(cmd, render.FormatTable, render.FormatJSON)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if specPath != "" {
			if err := status.FromSpec(&opts, specPath, pkiDir); err != nil {
				return err
			}
		}
		rep, err := status.Check(cmd.Context(), opts)
		if err != nil {
			return err
		}
		return writeOut(cmd, out, rep.Writers(), !rep.Healthy())
	}
	f := cmd.Flags()
	f.StringSliceVar(&opts.Endpoints, "endpoints", nil, "client URLs of the members")
	addMemberFlags(f, &specPath, &pkiDir, &opts.CAFile, &opts.CertFile, &opts.KeyFile)
	f.DurationVar(&opts.Timeout, "timeout", status.DefaultTimeout, "per-endpoint timeout")
	return cmd
}
