package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/etcdboot/etcdboot/operate/recovery"
)

func newRecoverCommand(_ *globalFlags) *cobra.Command {
	var o recovery.Options
	cmd := &cobra.Command{
		Use:   "recover -f cluster.yaml --from latest|BACKUP | --from-member NAME",
		Short: "Ask the members of a cluster that lost its quorum to re-form it from a backup or a survivor's data",
		Long: `recover is for quorum loss, which never heals by itself: it checks that no
quorum of the cluster answers, picks the newest verified backup in the
spec's backup.target (or the one named), checks it as a restore would, and
writes a recovery request into the store. Each agent acts on it at its next
boot: a member that sees no healthy quorum moves its data dir aside (nothing
is deleted), restores that backup and re-forms the cluster with the others;
a member that still sees a healthy quorum ignores the request and says so.
Reboot the survivors and boot replacements for the lost members.

With --from-member, the backup is what a surviving member holds, newer than
any scheduled backup: recover takes a snapshot from that member (etcd gives
one without a quorum), checks etcd's hash in it, uploads it to backup.target
as a backup of the cluster marked as the survivor's (backup list shows it),
and names it in the request.`,
		Example: `  etcdboot recover -f cluster.yaml --from latest
  etcdboot recover -f cluster.yaml --from prod-20261205T080000.000Z
  etcdboot recover -f cluster.yaml --from-member etcd1`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		res, err := recovery.Request(cmd.Context(), o)
		if err != nil {
			return err
		}
		r := res.Request
		if m := res.Uploaded; m != nil {
			fmt.Fprintf(cmd.OutOrStdout(), "backup %s taken from member %s (revision %d, %d keys) and uploaded to %s\n",
				m.Name, m.Member, m.Revision, m.TotalKeys, res.Target)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "recovery request %s written to %s: cluster %s re-forms from backup %s\nreboot the surviving members and boot replacements for the lost ones\n",
			r.Nonce, res.Target, r.Cluster, r.Backup)
		return nil
	}
	f := cmd.Flags()
	f.StringVarP(&o.SpecPath, "file", "f", "", "the cluster spec (its name, backup.target and members)")
	f.StringVar(&o.PKIDir, "pki", "out/pki", "the generator's PKI directory (the admin certificate)")
	f.StringVar(&o.From, "from", "", "latest (the default), or the name of a backup (etcdboot backup list)")
	f.StringVar(&o.FromMember, "from-member", "", "a surviving member whose data to recover from, instead of a backup")
	f.StringSliceVar(&o.Endpoints, "endpoints", nil, "the members' client URLs (default: the spec's)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
