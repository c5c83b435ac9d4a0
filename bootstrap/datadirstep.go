package bootstrap

import (
	"fmt"
	"os"
	osuser "os/user"
	"path/filepath"
	"strconv"

	"github.com/etcdboot/etcdboot/spec"
)

// prepareDataDir is the data dir step: it carries out the plan's data-dir
// part (move aside, restore from a snapshot among peers) and leaves the data
// dir present, private and, under systemd, etcd's.
func (a *Agent) prepareDataDir(n node, plan Plan, peers []spec.Member) error {
	p := n.payload
	dataDir := a.path(p.Etcd.DataDir)
	if plan.Action == ActionRestore && plan.Recover == nil {
		// Refuse a wrong snapshot before touching the data dir.
		if err := checkSnapshotDigest(a.path(p.Restore.Snapshot), p.Restore.SHA256); err != nil {
			return err
		}
	}
	if plan.MoveAside {
		moved, err := MoveAside(dataDir, string(plan.Action), a.cfg.Now())
		if err != nil {
			return err
		}
		if moved != "" {
			// Journal the move at once: a later failure must not lose where
			// the old data went.
			a.journal.State.MovedAside = append(a.journal.State.MovedAside, moved)
			if err := a.journal.Save(); err != nil {
				return err
			}
			a.log.Warn("data dir moved aside", "from", dataDir, "to", moved)
		}
	}
	if plan.Recover != nil {
		if err := a.restoreFromBackup(n, plan.Recover, peers); err != nil {
			return err
		}
	} else if plan.Action == ActionRestore {
		if err := RestoreMember(p, a.cfg.Root, peers, a.log); err != nil {
			return err
		}
		// Journal at once: a rerun must not restore this snapshot again.
		a.journal.State.RestoredSHA256 = p.Restore.SHA256
		if err := a.journal.Save(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return err
	}
	if a.cfg.Exec || a.cfg.EtcdUser == "" {
		return nil
	}
	return chownTree(dataDir, a.cfg.EtcdUser)
}

// chownTree gives a data dir to the user etcd runs as under systemd.
func chownTree(dir, user string) error {
	u, err := osuser.Lookup(user)
	if err != nil {
		return fmt.Errorf("etcd runs as user %q, which does not exist: %w; the image must create it", user, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}
