package spec

import (
	"math"
	"time"
)

// maxSpaceAlarmMargin bounds maintenance.spaceAlarm.margin: a larger margin
// would keep the alarm raised with half the quota free.
const maxSpaceAlarmMargin = 0.5

// maintenance checks a maintenance section with defaults applied, against
// the etcd settings it works with.
func (c *checker) maintenance(m Maintenance, e Etcd) {
	iv := m.Interval.Std()
	switch {
	case iv < MinMaintenanceInterval:
		c.errorf("maintenance.interval", "%v is shorter than %v; every round asks each member for its status, use e.g. 1h", m.Interval, MinMaintenanceInterval)
	case iv%time.Second != 0:
		c.errorf("maintenance.interval", "%v is not a whole number of seconds; systemd timers count in seconds, write e.g. 90s", iv)
	}
	if r := float64(m.Fragmentation.FreeRatio); r <= 0 || r >= 1 || math.IsInf(r, 0) {
		c.errorf("maintenance.fragmentation.freeRatio", "%v is not a share between 0 and 1; write e.g. 0.5 (defragment a member once half its database file is free)", r)
	}
	if free, quota := int64(m.Fragmentation.MinFreeBytes), e.QuotaBytes(); free >= quota {
		c.errorf("maintenance.fragmentation.minFreeBytes", "%d bytes is not less than the backend quota (%d bytes, etcd.quotaBackendBytes): no member ever has that much free; lower it, e.g. to 64MiB", free, quota)
	}
	if w := m.Window; w != nil {
		if w.Start == "" {
			c.errorf("maintenance.window.start", `is missing; write the time the window opens as HH:MM in UTC, e.g. "02:00"`)
		} else if _, err := ParseTimeOfDay(w.Start); err != nil {
			c.errorf("maintenance.window.start", "%v", err)
		}
		switch d := w.Duration.Std(); {
		case d <= 0:
			c.errorf("maintenance.window.duration", "is missing; write how long the window stays open, e.g. 4h")
		case d > 24*time.Hour:
			c.errorf("maintenance.window.duration", "%v is more than a day; leave window out to defragment at any time", w.Duration)
		case d < iv:
			c.errorf("maintenance.window.duration", "%v is shorter than maintenance.interval (%v): every round could fall outside it; make the window at least %v long or shorten the interval", d, iv, iv)
		}
	}
	if m.SpaceAlarm.Retention < 0 {
		c.errorf("maintenance.spaceAlarm.retention", "%d is negative; give the revisions the compaction that heals a NOSPACE alarm keeps, e.g. %d", m.SpaceAlarm.Retention, DefaultSpaceAlarmRetention)
	}
	if r := float64(m.SpaceAlarm.Margin); r <= 0 || r > maxSpaceAlarmMargin || math.IsInf(r, 0) {
		c.errorf("maintenance.spaceAlarm.margin", "%v is not a share between 0 and %v; write e.g. 0.1 (disarm NOSPACE once every database is at most 90%% of the quota)", r, maxSpaceAlarmMargin)
	}
}
