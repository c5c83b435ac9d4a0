package generate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"

	"github.com/etcdboot/etcdboot/internal/snapshot"
	"github.com/etcdboot/etcdboot/spec"
)

// DefaultNodeSnapshotPath is where restore payloads expect the snapshot on
// every node.
const DefaultNodeSnapshotPath = "/var/lib/etcdboot/restore/snapshot.db"

// RestoreOptions are the inputs of a restore plan.
type RestoreOptions struct {
	// SpecPath is the cluster spec the cluster was generated from.
	SpecPath string
	// OutDir is the generator's output directory; its PKI is kept.
	OutDir string
	// Snapshot is the snapshot file here, checked and digested.
	Snapshot string
	// NodeSnapshotPath is where the payloads say the snapshot is on each
	// node; default DefaultNodeSnapshotPath. Getting it there is the
	// operator's: snapshots are too big for user-data.
	NodeSnapshotPath string
	// Remaps move the spec's addresses, as in Options.
	Remaps []Remap
	Logger *slog.Logger
}

// RestoreToken is the cluster token of a cluster restored from the snapshot
// with this sha256: new, so the restored members never talk to the old
// cluster's, and the same for the same snapshot, so a rerun plans the same.
func RestoreToken(cluster, sha256 string) string {
	return cluster + "-restore-" + sha256[:8]
}

// RestorePlan writes the payloads that rebuild a cluster from a snapshot
// when its members boot them. It checks the snapshot (snapshot.Status
// refuses a truncated or corrupt one), copies it with its .sha256 to
// OutDir/restore/, and writes every member's payload as Run does, with the
// same members, names, peer URLs and PKI, plus restore: (the node path and
// the sha256) and the new token RestoreToken. Clusters whose members are
// not listed in the spec (autoscaling) cannot be restored this way.
//
// The member payloads are first written as Run writes them, then rewritten
// with the restore: an interrupted plan leaves each payload file either as
// the spec describes it or complete, never with the new token and no restore.
func RestorePlan(opts RestoreOptions) (*Result, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.NodeSnapshotPath == "" {
		opts.NodeSnapshotPath = DefaultNodeSnapshotPath
	}
	if !filepath.IsAbs(opts.NodeSnapshotPath) {
		return nil, fmt.Errorf("restore plan: node snapshot path %q is not absolute", opts.NodeSnapshotPath)
	}
	if opts.Snapshot == "" {
		return nil, errors.New("restore plan: no snapshot given")
	}
	c, _, err := spec.LoadCluster(opts.SpecPath)
	if err != nil {
		return nil, err
	}
	if c.Autoscaling != nil || len(c.Members) == 0 {
		return nil, fmt.Errorf("restore plan: %s lists no members (autoscaling group); a restore rebuilds a fixed member set: "+
			"list the members in the spec, or restore one member by hand with etcdutl and let the group join it", opts.SpecPath)
	}
	info, err := snapshot.Status(opts.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("restore plan: %w", err)
	}
	opts.Logger.Info("restore plan", "snapshot", opts.Snapshot, "sha256", info.SHA256, "revision", info.Revision, "keys", info.TotalKeys)

	// The snapshot goes to out/ before any payload names its digest.
	const copyRel = "restore/snapshot.db"
	if err := snapshot.Copy(opts.Snapshot, filepath.Join(opts.OutDir, copyRel), info.SHA256); err != nil {
		return nil, fmt.Errorf("restore plan: %w", err)
	}
	res, err := Run(Options{SpecPath: opts.SpecPath, OutDir: opts.OutDir, Remaps: opts.Remaps, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	restore := &spec.Restore{Snapshot: opts.NodeSnapshotPath, SHA256: info.SHA256}
	token := RestoreToken(res.Cluster.Name, info.SHA256)
	g := &generator{c: res.Cluster, opts: Options{OutDir: opts.OutDir, Logger: opts.Logger}, res: res}
	for i := range res.Nodes {
		n := &res.Nodes[i]
		n.Bundle.Payload.Token = token
		n.Bundle.Payload.Restore = restore
		if *n, err = g.renderNode(n.Name, n.Bundle); err != nil {
			return nil, fmt.Errorf("restore plan: %w", err)
		}
	}
	res.Cluster.Token = token
	res.Files = append(res.Files, copyRel, copyRel+".sha256")
	slices.Sort(res.Files)
	res.Files = slices.Compact(res.Files)
	return res, nil
}

// RestoreSummary says, for the CLI, what a restore plan produced and what
// the operator does next.
func (r *Result) RestoreSummary() string {
	var b bytes.Buffer
	b.WriteString(r.Summary())
	if len(r.Nodes) == 0 || r.Nodes[0].Bundle.Payload.Restore == nil {
		return b.String()
	}
	rs := r.Nodes[0].Bundle.Payload.Restore
	fmt.Fprintf(&b, "restore: snapshot sha256 %s, new cluster token %s\n", rs.SHA256, r.Cluster.Token)
	fmt.Fprintf(&b, "next: copy restore/snapshot.db to %s on every member, stop etcd on all of them,\n", rs.Snapshot)
	b.WriteString("      then boot each with its new payload; each agent checks the sha256, moves the old\n")
	b.WriteString("      data dir aside and restores. Put this token in the spec so later runs keep it:\n")
	fmt.Fprintf(&b, "      token: %s\n", r.Cluster.Token)
	return b.String()
}
