package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/internal/backupstore"
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
		Use:   "status FILE | OBJECT-URL | TARGET NAME",
		Short: "Check a snapshot file or a backup in an object store and show its hash, revision, keys and size, like etcdutl snapshot status",
		Long: `status reads a snapshot file and prints what etcdutl snapshot status prints
(etcd's integrity hash, revision, total keys, total size, storage version) and
the file's sha256. It fails, naming the file, when the snapshot is truncated,
does not match the sha256 etcd appended to it, or its database is inconsistent.

A backup in an object store is named by its object's URL (the target URL with
snapshots/NAME.db after the prefix, the query as the target's) or by the
target and the backup's name (etcdboot backup list). It is downloaded into a
temporary file and checked like a restore would: its size and sha256 against
its manifest, then as a file.`,
		Example: `  etcdboot snapshot status snap.db
  etcdboot snapshot status snap.db -w json
  etcdboot snapshot status 's3://my-bucket/etcd/snapshots/prod-20240131T235959.123Z.db?region=eu-west-1'
  etcdboot snapshot status 's3://my-bucket/etcd?region=eu-west-1' prod-20240131T235959.123Z`,
		Args: cobra.RangeArgs(1, 2),
	}
	out := addWriteOut(cmd, render.FormatTable, render.FormatJSON)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var info snapshot.Info
		var err error
		if len(args) == 2 || strings.Contains(args[0], "://") {
			info, err = storedSnapshotStatus(cmd.Context(), args)
		} else {
			info, err = snapshot.Status(args[0])
		}
		if err != nil {
			return err
		}
		return writeOut(cmd, out, info.Writers(), false)
	}
	return cmd
}

// storedSnapshotStatus downloads a backup named by its object URL, or by a
// target and a name, into a temporary directory and checks it.
func storedSnapshotStatus(ctx context.Context, args []string) (snapshot.Info, error) {
	target, name := args[0], ""
	if len(args) == 2 {
		name = args[1]
	} else {
		var err error
		if target, name, err = backupstore.SplitObjectURL(args[0]); err != nil {
			return snapshot.Info{}, err
		}
	}
	store, err := backupstore.Open(ctx, target)
	if err != nil {
		return snapshot.Info{}, err
	}
	defer store.Close()
	dir, err := os.MkdirTemp("", "etcdboot-snapshot-status-")
	if err != nil {
		return snapshot.Info{}, err
	}
	defer os.RemoveAll(dir)
	_, info, err := store.Fetch(ctx, name, filepath.Join(dir, name+".db"), backupstore.Expect{Recheck: true})
	info.Path = target + " " + name
	return info, err
}
