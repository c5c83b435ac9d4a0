package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/internal/render"
	"github.com/etcdboot/etcdboot/internal/snapshot"
)

func newSnapshotCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Take and check etcd snapshots, like etcdctl snapshot save and etcdutl snapshot status",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSnapshotSaveCommand(g), newSnapshotStatusCommand(g))
	return cmd
}

func newSnapshotSaveCommand(_ *globalFlags) *cobra.Command {
	var (
		opts     snapshot.SaveOptions
		specPath string
		pkiDir   string
	)
	cmd := &cobra.Command{
		Use:   "save -o FILE [--endpoints URLs | -f cluster.yaml]",
		Short: "Save a snapshot of the cluster's keyspace to a file, verified, with a .sha256 beside it",
		Long: `save streams a snapshot from one member (the first of the endpoints that
answers and has a leader) into a temporary file beside FILE, fsyncs it, checks
it the way "snapshot status" does (the whole database is there, it matches the
sha256 etcd appends, bbolt finds it consistent), and only then renames it to
FILE and writes FILE.sha256 in sha256sum's format. A failed save replaces
nothing. On a terminal, stderr shows the bytes received and the rate.

With -f, the endpoints come from the cluster spec and the certificates from
the generator's output (--pki, default out/pki: ca.crt and the admin client).`,
		Example: `  etcdboot snapshot save -f cluster.yaml -o backup/etcd-$(date +%F).db
  etcdboot snapshot save --endpoints https://10.0.0.1:2379 --cacert ca.crt --cert admin.crt --key admin.key -o snap.db`,
		Args: cobra.NoArgs,
	}
	out := addWriteOut(cmd, render.FormatTable, render.FormatJSON)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if specPath != "" {
			if err := opts.FromSpec(specPath, pkiDir); err != nil {
				return err
			}
		}
		opts.Progress = os.Stderr
		info, err := snapshot.Save(cmd.Context(), opts)
		if err != nil {
			return err
		}
		cmd.Printf("snapshot saved at %s (sha256 in %s.sha256)\n", info.Path, filepath.Base(info.Path))
		return writeOut(cmd, out, info.Writers(), false)
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Output, "output", "o", "", "snapshot file to write")
	f.StringSliceVar(&opts.Endpoints, "endpoints", nil, "client URLs of the members; the snapshot comes from the first healthy one")
	addMemberFlags(f, &specPath, &pkiDir, &opts.TLS.CAFile, &opts.TLS.CertFile, &opts.TLS.KeyFile)
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

func newSnapshotStatusCommand(_ *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status FILE",
		Short: "Check a snapshot file and show its hash, revision, keys and size, like etcdutl snapshot status",
		Long: `status reads a snapshot file and prints what etcdutl snapshot status prints
(etcd's integrity hash, revision, total keys, total size, storage version) and
the file's sha256. It fails, naming the file, when the snapshot is truncated,
does not match the sha256 etcd appended to it, or its database is inconsistent.`,
		Example: `  etcdboot snapshot status snap.db
  etcdboot snapshot status snap.db -w json`,
		Args: cobra.ExactArgs(1),
	}
	out := addWriteOut(cmd, render.FormatTable, render.FormatJSON)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		info, err := snapshot.Status(args[0])
		if err != nil {
			return err
		}
		return writeOut(cmd, out, info.Writers(), false)
	}
	return cmd
}
