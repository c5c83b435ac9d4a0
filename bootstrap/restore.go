package bootstrap

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/internal/snapshot"
	"github.com/etcdboot/etcdboot/spec"
)

// RestoreMember carries out a restore plan's data-dir step: it rebuilds this
// member's data dir from the payload's snapshot, checked against the
// payload's sha256, as a member of a new cluster made of peers under the
// payload's (new) token. Paths in the payload are taken under root ("" or
// "/" on a real node). The data dir must be absent or empty: moving an old
// one aside is the caller's, and nothing is ever deleted. peers defaults to
// the payload's members and must include this node.
func RestoreMember(p *spec.NodePayload, root string, peers []spec.Member, log *slog.Logger) error {
	if p.Restore == nil {
		return errors.New("restore member: the payload has no restore: section")
	}
	if p.Node == nil {
		return errors.New("restore member: the payload has no node: section; a launch payload cannot restore")
	}
	if len(peers) == 0 {
		peers = p.Members
	}
	if !slices.ContainsFunc(peers, func(m spec.Member) bool { return m.Name == p.Node.Name }) {
		return fmt.Errorf("restore member %s: it is not among the peers %s; a restore needs every member listed, this one included",
			p.Node.Name, etcdconfig.InitialCluster(peers, p.Etcd.PeerPort))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := snapshot.RestoreOptions{
		Snapshot:                 restoreRooted(root, p.Restore.Snapshot),
		SHA256:                   p.Restore.SHA256,
		Name:                     p.Node.Name,
		InitialCluster:           etcdconfig.InitialCluster(peers, p.Etcd.PeerPort),
		InitialClusterToken:      p.Token,
		InitialAdvertisePeerURLs: etcdconfig.PeerURLs(*p.Node, p.Etcd.PeerPort),
		DataDir:                  restoreRooted(root, p.Etcd.DataDir),
	}
	if _, err := os.Stat(opts.Snapshot); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restore member %s: restore.snapshot %s is not on this node: copy the planned snapshot there "+
			"(out/restore/snapshot.db of etcdboot restore plan, sha256 %s), then rerun", p.Node.Name, opts.Snapshot, opts.SHA256)
	}
	log.Info("restoring member from snapshot", "member", p.Node.Name, "snapshot", opts.Snapshot, "sha256", opts.SHA256,
		"data_dir", opts.DataDir, "token", opts.InitialClusterToken)
	if err := snapshot.Restore(opts); err != nil {
		return fmt.Errorf("restore member %s (restore.snapshot %s): %w", p.Node.Name, opts.Snapshot, err)
	}
	log.Info("member restored from snapshot", "member", p.Node.Name, "data_dir", opts.DataDir)
	return nil
}

// restoreRooted maps a path named in the payload to the node's filesystem, as
// Agent.path does.
func restoreRooted(root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	return filepath.Join(root, p)
}

// checkSnapshotDigest compares a snapshot file's sha256 with the payload's.
func checkSnapshotDigest(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("restore.snapshot: %w; copy the snapshot to this node first", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("restore.snapshot: read %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return fmt.Errorf("restore.snapshot: %s has sha256 %s but the payload says %s: every member must restore the same snapshot; copy the right file", path, got, want)
	}
	return nil
}
