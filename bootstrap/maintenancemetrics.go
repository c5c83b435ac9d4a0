package bootstrap

import (
	"context"

	"github.com/etcdboot/etcdboot/bootstrap/maintenance"
	"github.com/etcdboot/etcdboot/internal/roundstate"
)

// maintenanceFollower follows the state file in which `etcdboot-agent
// defrag` (and the watcher's own heals) record their rounds, as
// backupFollower does for backups.
type maintenanceFollower = roundstate.Follower[maintenance.State]

// maintenanceStateFile is maintenance's state file, as the follower reads it.
var maintenanceStateFile = roundstate.File{Name: maintenance.StateFile, What: "maintenance"}

// syncMaintenanceMetrics reads the maintenance state file when it changed
// and exports the rounds recorded since the last read. A file that exists
// at the first read is a baseline: its rounds ran before this process
// started and were exported by an earlier one.
func (a *Agent) syncMaintenanceMetrics(f *maintenanceFollower) {
	m := a.maintenanceMetrics
	if m == nil {
		return
	}
	prev, cur, changed, err := f.Next(maintenanceStateFile, a.cfg.StateDir)
	if err != nil {
		a.log.Warn("maintenance state not readable", "err", err)
		return
	}
	if !changed {
		return
	}
	st := *cur
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
	everyWatchInterval(ctx, func() { a.syncMaintenanceMetrics(&f) })
}
