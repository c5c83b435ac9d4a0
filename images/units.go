package images

import (
	"embed"
	"fmt"
	"path"
	"time"
)

// Units are the systemd unit files, by file name under systemd/.
//
//go:embed systemd/*.service systemd/*.timer
var Units embed.FS

// UnitNames lists the units an image installs and enables.
var UnitNames = []string{"etcdboot-agent.service", "etcd.service", "etcdboot-watch.service"}

// UnitDir is where an image installs them.
const UnitDir = "/etc/systemd/system"

// The scheduled backup: a timer that starts a oneshot service running
// `etcdboot-agent backup`.
const (
	BackupService = "etcdboot-backup.service"
	BackupTimer   = "etcdboot-backup.timer"
)

// BackupUnitNames lists the units an image installs but does not enable: a
// node payload with a backup section enables BackupTimer and sets its
// interval with the drop-in at BackupTimerDropInPath.
var BackupUnitNames = []string{BackupService, BackupTimer}

// BackupTimerDropInPath is where a node payload puts BackupTimerDropIn's file.
var BackupTimerDropInPath = path.Join(UnitDir, BackupTimer+".d", "interval.conf")

// firstBackupAfterBoot caps the wait for the first round after a boot, so a
// daily schedule on a node that reboots more often than daily still backs up.
const firstBackupAfterBoot = 15 * time.Minute

// BackupTimerDropIn renders the drop-in that sets BackupTimer's schedule to a
// round every interval, the first one interval (at most 15 minutes) after
// boot. interval must be a whole number of seconds, at least one.
func BackupTimerDropIn(interval time.Duration) ([]byte, error) {
	if interval < time.Second || interval%time.Second != 0 {
		return nil, fmt.Errorf("backup timer: interval %v is not a whole number of seconds of at least 1s", interval)
	}
	boot := min(interval, firstBackupAfterBoot)
	// An empty assignment first: a drop-in adds to the unit's list of
	// triggers otherwise, and the image's defaults would stay.
	return fmt.Appendf(nil, "# Written by etcdboot from the node payload's backup.interval.\n[Timer]\nOnBootSec=\nOnBootSec=%s\nOnUnitActiveSec=\nOnUnitActiveSec=%s\n",
		systemdSpan(boot), systemdSpan(interval)), nil
}

// systemdSpan writes a whole number of seconds as systemd.time(7) reads it.
func systemdSpan(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dmin", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
