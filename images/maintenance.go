package images

import (
	"fmt"
	"path"
	"time"
)

// The scheduled maintenance: a timer that starts a oneshot service running
// `etcdboot-agent defrag`.
const (
	MaintenanceService = "etcdboot-defrag.service"
	MaintenanceTimer   = "etcdboot-defrag.timer"
)

// MaintenanceUnitNames lists the units an image installs but does not
// enable: a node payload with a maintenance section enables
// MaintenanceTimer and sets its interval with the drop-in at
// MaintenanceTimerDropInPath.
var MaintenanceUnitNames = []string{MaintenanceService, MaintenanceTimer}

// MaintenanceTimerDropInPath is where a node payload puts
// MaintenanceTimerDropIn's file.
var MaintenanceTimerDropInPath = path.Join(UnitDir, MaintenanceTimer+".d", "interval.conf")

// DormantUnitNames are every unit an image installs without enabling it:
// the backup and maintenance timers and their services.
func DormantUnitNames() []string {
	return append(append([]string{}, BackupUnitNames...), MaintenanceUnitNames...)
}

// MaintenanceTimerDropIn renders the drop-in that sets MaintenanceTimer's
// schedule to a round every interval, the first one interval (at most 15
// minutes) after boot. interval must be a whole number of seconds, at least
// one.
func MaintenanceTimerDropIn(interval time.Duration) ([]byte, error) {
	if interval < time.Second || interval%time.Second != 0 {
		return nil, fmt.Errorf("maintenance timer: interval %v is not a whole number of seconds of at least 1s", interval)
	}
	boot := min(interval, firstBackupAfterBoot)
	// An empty assignment first: a drop-in adds to the unit's list of
	// triggers otherwise, and the image's defaults would stay.
	return fmt.Appendf(nil, "# Written by etcdboot from the node payload's maintenance.interval.\n[Timer]\nOnBootSec=\nOnBootSec=%s\nOnUnitActiveSec=\nOnUnitActiveSec=%s\n",
		systemdSpan(boot), systemdSpan(interval)), nil
}
