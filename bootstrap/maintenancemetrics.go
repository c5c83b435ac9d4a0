package bootstrap

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap/maintenance"
)

// maintenanceFollower exports the rounds `etcdboot-agent defrag` (and the
// watcher's own heals) record in the maintenance state file, as
// backupFollower does for backups.
type maintenanceFollower struct {
	modTime time.Time
	size    int64
	// seen is the state already exported; nil before the first read.
	seen *maintenance.State
}

// syncMaintenanceMetrics reads the maintenance state file when it changed
// and exports the rounds recorded since the last read. A file that exists
// at the first read is a baseline: its rounds ran before this process
// started and were exported by an earlier one.
func (a *Agent) syncMaintenanceMetrics(f *maintenanceFollower) {
	m := a.maintenanceMetrics
	if m == nil {
		return
	}
	fi, err := os.Stat(filepath.Join(a.cfg.StateDir, maintenance.StateFile))
	if errors.Is(err, fs.ErrNotExist) && f.seen == nil {
		f.seen = &maintenance.State{}
		return
	}
	if err != nil || (fi.ModTime().Equal(f.modTime) && fi.Size() == f.size) {
		return
	}
	st, err := maintenance.ReadState(a.cfg.StateDir)
	if err != nil {
		a.log.Warn("maintenance state not readable", "err", err)
		return
	}
	f.modTime, f.size = fi.ModTime(), fi.Size()
	prev := f.seen
	f.seen = &st
	if prev == nil || st.Defrag.OK < prev.Defrag.OK || st.Heal.OK < prev.Heal.OK ||
		st.Defrag.Failed < prev.Defrag.Failed || st.Heal.Failed < prev.Heal.Failed {
		return // first read, or the file was started again: a baseline
	}
	for _, k := range []struct {
		kind      string
		now, then maintenance.Counts
	}{{maintenance.KindDefrag, st.Defrag, prev.Defrag}, {maintenance.KindHeal, st.Heal, prev.Heal}} {
		m.RoundsDone(k.kind, maintenance.ResultOK, k.now.OK-k.then.OK)
		m.RoundsDone(k.kind, maintenance.ResultFailed, k.now.Failed-k.then.Failed)
		m.RoundsDone(k.kind, maintenance.ResultSkipped, k.now.Skipped-min(k.now.Skipped, k.then.Skipped))
	}
	m.Reclaimed(st.Reclaimed - prev.Reclaimed)
	if l := st.Last; l != nil && l.Result != maintenance.ResultSkipped && (prev.Last == nil || !l.Started.Equal(prev.Last.Started)) {
		m.RoundTook(l.Kind, l.Duration())
	}
}

// followMaintenance exports the maintenance state file's rounds every
// WatchInterval until ctx ends; without a maintenance section it returns
// at once.
func (a *Agent) followMaintenance(ctx context.Context, n node) {
	if n.payload.Maintenance == nil {
		return
	}
	var f maintenanceFollower
	tick := time.NewTicker(WatchInterval)
	defer tick.Stop()
	for {
		a.syncMaintenanceMetrics(&f)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
