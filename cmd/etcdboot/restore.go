package main

import (
	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/operate/recovery"
)

func newRestoreCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Rebuild a cluster from a snapshot by rebooting its members with restore payloads",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newRestorePlanCommand(g))
	return cmd
}

func newRestorePlanCommand(g *globalFlags) *cobra.Command {
	var (
		opts generate.RestoreOptions
		from string
	)
	cmd := &cobra.Command{
		Use:   "plan --snapshot FILE | --from latest|BACKUP|OBJECT-URL -f cluster.yaml -o out/",
		Short: "Write payloads that restore every member from a snapshot when it boots",
		Long: `plan checks the snapshot (as "snapshot status" does), then rewrites every
member's payload under the output directory (node.yaml, ignition.json,
config.bu, user-data) as "generate" would, with the same member names, peer
URLs and PKI, plus:

  restore:  the snapshot's path on the node and its sha256
  token:    a new cluster token, <cluster>-restore-<first 8 hex of the sha256>

and copies the snapshot to out/restore/snapshot.db with its .sha256. Give
the output directory generate wrote, so the cluster keeps its CA and
certificates; an empty one gets a new CA, and clients then need its ca.crt.

The payloads name the snapshot; they do not carry it: a snapshot is far
bigger than the 16 KiB of user-data a cloud accepts. Put out/restore/snapshot.db
at the node path (--node-snapshot-path, default
/var/lib/etcdboot/restore/snapshot.db) on every member yourself: scp, a
shared volume, the image, or "etcdboot serve" and a fetch in your boot
configuration. Then stop etcd on every member and boot each with its new
payload. Each agent checks the file's sha256 against the payload and refuses a
wrong or damaged copy, moves the old data dir aside (never deletes it),
restores, and starts the member in the new cluster; the journal records the
restore, so a reboot does not restore again.

Afterwards put the new token in the cluster spec (token: ...), so that later
"generate" runs keep it.

With --from instead of --snapshot, the snapshot comes from the object store:
latest (the newest verified backup of the cluster in the spec's
backup.target), a backup's name there, or a backup's object URL. It is
downloaded into out/restore/ and checked as a restore would (size, sha256,
etcd's hash, revision and key count) before any payload is written.`,
		Example: `  etcdboot snapshot save -f cluster.yaml -o backup/snap.db
  etcdboot restore plan --snapshot backup/snap.db -f cluster.yaml -o out/
  etcdboot restore plan --from latest -f cluster.yaml -o out/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Logger = g.logger
			res, err := recovery.RestorePlan(cmd.Context(), opts, from)
			if err != nil {
				return err
			}
			cmd.Print(res.RestoreSummary())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Snapshot, "snapshot", "", "snapshot file (from etcdboot snapshot save or etcdctl snapshot save)")
	addSpecFlags(cmd, &opts.SpecPath, &opts.OutDir, "output directory (the one generate wrote: its PKI is kept)")
	f.StringVar(&opts.NodeSnapshotPath, "node-snapshot-path", generate.DefaultNodeSnapshotPath, "where the snapshot will be on every node")
	addRemapFlag(f, &opts.Remaps, "move addresses FROM=TO between same-size subnets, as in generate")
	f.StringVar(&from, "from", "", "take the snapshot from the object store: latest, a backup's name in backup.target, or a backup's object URL")
	return cmd
}
