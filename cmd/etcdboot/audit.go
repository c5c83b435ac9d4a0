package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/internal/render"
	"github.com/etcdboot/etcdboot/operate/audit"
)

func newAuditCommand(_ *globalFlags) *cobra.Command {
	var (
		opts     audit.Options
		specPath string
	)
	cmd := &cobra.Command{
		Use:   "audit -f cluster.yaml [-o out/]",
		Short: "Check the generated etcd configuration against the CIS Kubernetes Benchmark etcd section",
		Long: `audit renders every member's etcd configuration from the generated payloads,
exactly as etcdboot-agent writes it (the environment file or the YAML config
file), reads it back the way etcd does and checks CIS Kubernetes Benchmark
items 2.1 to 2.6 (TLS files set, client certificate authentication on, no
auto-TLS, for clients and peers) and etcdboot's own E.1 (--tls-min-version
TLS1.3, or TLS1.2 with only ECDHE+AEAD --cipher-suites), then item 2.7 (a CA
of etcd's own) on out/pki/ca.crt. It prints PASS, FAIL or WARN per item and member, with a
remediation under each FAIL and WARN, and exits 2 when any item fails.`,
		Example: `  etcdboot audit -f cluster.yaml -o out/
  etcdboot audit -f cluster.yaml --kube-ca /etc/kubernetes/pki/ca.crt -w json`,
		Args: cobra.NoArgs,
	}
	out := addWriteOut(cmd, render.FormatText, render.FormatJSON, render.FormatTable)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		rep, err := audit.CheckSpec(specPath, opts)
		if err != nil {
			return err
		}
		return writeOut(cmd, out, rep.Writers(), rep.Failed())
	}
	f := cmd.Flags()
	addSpecFlags(cmd, &specPath, &opts.OutDir, "the generator's output directory")
	f.StringVar(&opts.KubeCAFile, "kube-ca", "", "the Kubernetes cluster CA, to check that etcd's CA is not it (CIS 2.7)")
	return cmd
}
