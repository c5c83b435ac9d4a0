package bootstrap

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap/backup"
)

// backupFollower exports the rounds `etcdboot-agent backup` records in the
// state file: the timer's rounds are short-lived processes, the watcher is
// the long-lived one that serves metrics.
type backupFollower struct {
	modTime time.Time
	size    int64
	// seen are the counts already exported; nil before the first read.
	seen *backup.State
}

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
	fi, err := os.Stat(filepath.Join(a.cfg.StateDir, backup.StateFile))
	if errors.Is(err, fs.ErrNotExist) && f.seen == nil {
		// No round ran before this process: every round from now on is new.
		f.seen = &backup.State{}
		return
	}
	if err != nil || (fi.ModTime().Equal(f.modTime) && fi.Size() == f.size) {
		return
	}
	st, err := backup.ReadState(a.cfg.StateDir)
	if err != nil {
		a.log.Warn("backup state not readable", "err", err)
		return
	}
	f.modTime, f.size = fi.ModTime(), fi.Size()
	if f.seen == nil || st.OK < f.seen.OK || st.Failed < f.seen.Failed {
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
		f.seen = &st
		return
	}
	at := a.cfg.Now()
	if st.Last != nil {
		at = st.Last.Finished
	}
	for range st.Failed - f.seen.Failed {
		a.metrics.BackupDone(false, at)
	}
	for range st.OK - f.seen.OK {
		a.metrics.BackupDone(true, st.LastSuccess)
	}
	for range st.UploadsFailed - min(st.UploadsFailed, f.seen.UploadsFailed) {
		a.metrics.UploadDone(false, at)
	}
	for range st.Uploads - min(st.Uploads, f.seen.Uploads) {
		a.metrics.UploadDone(true, st.LastUpload)
	}
	f.seen = &st
}

// followBackups exports the backup state file's rounds every WatchInterval
// until ctx ends; without a backup section it returns at once.
func (a *Agent) followBackups(ctx context.Context, n node) {
	if n.payload.Backup == nil {
		return
	}
	var f backupFollower
	tick := time.NewTicker(WatchInterval)
	defer tick.Stop()
	for {
		a.syncBackupMetrics(&f)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
