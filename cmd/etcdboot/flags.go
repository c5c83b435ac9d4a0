package main

import (
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/cli"
	"github.com/etcdboot/etcdboot/internal/render"
)

// addWriteOut adds -w/--write-out offering formats, the first by default; a
// format not offered fails before the command does any work.
func addWriteOut(cmd *cobra.Command, formats ...render.Format) *render.Flag {
	out := render.NewFlag(formats...)
	cmd.Flags().VarP(out, "write-out", "w", out.Usage())
	return out
}

// writeOut prints a command's result in the -w format chosen; failed (an
// unhealthy member, a failed check) then ends the command with exit code 2,
// its output having said why.
func writeOut(cmd *cobra.Command, out *render.Flag, ws render.Writers, failed bool) error {
	if err := ws.Write(cmd.OutOrStdout(), out.Format); err != nil {
		return err
	}
	if failed {
		return &cli.ExitError{Code: 2}
	}
	return nil
}

// addMemberFlags adds the ways status and snapshot save reach the members:
// -f, whose members' client URLs are the endpoints and whose generator's PKI
// (--pki) has the client certificate, or etcdctl's --cacert, --cert and --key.
func addMemberFlags(f *pflag.FlagSet, specPath, pkiDir, caFile, certFile, keyFile *string) {
	f.StringVarP(specPath, "file", "f", "", "cluster spec: take the endpoints from its members")
	f.StringVar(pkiDir, "pki", filepath.Join("out", "pki"), "generator PKI directory used with -f")
	f.StringVar(caFile, "cacert", "", "CA bundle")
	f.StringVar(certFile, "cert", "", "client certificate")
	f.StringVar(keyFile, "key", "", "client key")
}

// remapFlag is the repeatable --remap FROM=TO flag, each parsed as given.
type remapFlag struct {
	remaps *[]generate.Remap
	given  []string
}

// addRemapFlag adds --remap, appending to remaps.
func addRemapFlag(f *pflag.FlagSet, remaps *[]generate.Remap, usage string) {
	f.Var(&remapFlag{remaps: remaps}, "remap", usage)
}

func (r *remapFlag) Set(s string) error {
	rm, err := generate.ParseRemap(s)
	if err != nil {
		return err
	}
	*r.remaps = append(*r.remaps, rm)
	r.given = append(r.given, s)
	return nil
}

// String is empty until set, so help shows no default.
func (r *remapFlag) String() string {
	if len(r.given) == 0 {
		return ""
	}
	return "[" + strings.Join(r.given, ",") + "]"
}

// Type is pflag's name for a repeatable string flag, as --remap was.
func (r *remapFlag) Type() string { return "stringArray" }

// addSpecFlags adds the required -f, the cluster spec, and -o, the
// generator's output directory, which outUsage describes for the command.
func addSpecFlags(cmd *cobra.Command, specPath, outDir *string, outUsage string) {
	f := cmd.Flags()
	f.StringVarP(specPath, "file", "f", "", "cluster spec (YAML)")
	f.StringVarP(outDir, "out", "o", "out", outUsage)
	_ = cmd.MarkFlagRequired("file")
}
