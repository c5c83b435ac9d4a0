package bootstrap

import (
	"context"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap/backup"
	"github.com/etcdboot/etcdboot/internal/roundstate"
)

// backupFollower follows the state file in which `etcdboot-agent backup`
// records its rounds: the timer's rounds are short-lived processes, the
// watcher is the long-lived one that serves metrics.
type backupFollower = roundstate.Follower[backup.State]

// backupStateFile is backup's state file, as the follower reads it.
var backupStateFile = roundstate.File{Name: backup.StateFile, What: "backup"}

// syncBackupMetrics reads the backup state file when it changed and exports
// the rounds recorded since the last read. A file that exists at the first
// read is a baseline that only sets the last success: its rounds ran before
// this process started and were exported by an earlier one, and a restart
// must not reset the backup's age. Skipped rounds
// (members that are not the writer) touch no metric.
func (a *Agent) syncBackupMetrics(f *backupFollower) {
	if a.metrics == nil {
		return
	}
	prev, cur, changed, err := f.Next(backupStateFile, a.cfg.StateDir)
	if err != nil {
		a.log.Warn("backup state not readable", "err", err)
		return
	}
	if !changed {
		return
	}
	st := *cur
	if prev == nil || st.OK < prev.OK || st.Failed < prev.Failed {
		// First read, or the file was started again: a baseline.
		if st.OK+st.Failed > 0 {
			last := st.LastSuccess
			if last.IsZero() {
				last = time.Unix(0, 0) // backups ran but never succeeded
			}
			a.metrics.SetLastBackupSuccess(last)
		}
		if !st.LastUpload.IsZero() {
			a.metrics.SetLastUploadSuccess(st.LastUpload)
		}
		return
	}
	at := a.cfg.Now()
	if st.Last != nil {
		at = st.Last.Finished
	}
	for range st.Failed - prev.Failed {
		a.metrics.BackupDone(false, at)
	}
	for range st.OK - prev.OK {
		a.metrics.BackupDone(true, st.LastSuccess)
	}
	for range st.UploadsFailed - min(st.UploadsFailed, prev.UploadsFailed) {
		a.metrics.UploadDone(false, at)
	}
	for range st.Uploads - min(st.Uploads, prev.Uploads) {
		a.metrics.UploadDone(true, st.LastUpload)
	}
}

// followBackups exports the backup state file's rounds every WatchInterval
// until ctx ends; without a backup section it returns at once.
func (a *Agent) followBackups(ctx context.Context, n node) {
	if n.payload.Backup == nil {
		return
	}
	var f backupFollower
	everyWatchInterval(ctx, func() { a.syncBackupMetrics(&f) })
}

// everyWatchInterval calls sync at once and then every WatchInterval until
// ctx ends.
func everyWatchInterval(ctx context.Context, sync func()) {
	tick := time.NewTicker(WatchInterval)
	defer tick.Stop()
	for {
		sync()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
