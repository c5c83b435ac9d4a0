package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/render"
)

func newBackupCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Look at the backups the members upload to backup.target",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBackupListCommand(g))
	return cmd
}

func newBackupListCommand(_ *globalFlags) *cobra.Command {
	var target, cluster string
	cmd := &cobra.Command{
		Use:   "list --target URL [--cluster NAME]",
		Short: "List the complete backups in an object store, newest first",
		Long: `list reads the manifests in the target (the cluster spec's backup.target)
and shows each complete backup, newest first: when it was taken, its revision,
key count, size, etcd version, and whether its writer verified it ("yes") or
also test-restored it ("restored"). A manifest whose snapshot object is gone,
or an object without a manifest (an upload in progress or interrupted), is
listed under the table as not a backup. Credentials come from the cloud's own
chain (AWS_ACCESS_KEY_ID or AWS_PROFILE, GOOGLE_APPLICATION_CREDENTIALS,
AZURE_* or the machine's role).`,
		Example: `  etcdboot backup list --target 's3://my-bucket/etcd?region=eu-west-1'
  etcdboot backup list --target 's3://etcd/prod?endpoint=http://10.0.0.5:8333&use_path_style=true&region=us-east-1' -w json
  etcdboot backup list --target file:///mnt/backups/etcd --cluster prod`,
		Args: cobra.NoArgs,
	}
	out := addWriteOut(cmd, render.FormatTable, render.FormatJSON)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		store, err := backupstore.Open(cmd.Context(), target)
		if err != nil {
			return err
		}
		defer store.Close()
		l, err := store.List(cmd.Context(), cluster)
		if err != nil {
			return err
		}
		return writeOut(cmd, out, l.Writers(), false)
	}
	f := cmd.Flags()
	f.StringVar(&target, "target", "", "the object store URL, as backup.target spells it")
	f.StringVar(&cluster, "cluster", "", "only this cluster's backups (default: every cluster's in the target)")
	_ = cmd.MarkFlagRequired("target")
	return cmd
}
