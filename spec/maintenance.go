package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of a maintenance section.
const (
	// DefaultMaintenanceInterval is how often each member's timer starts a
	// round; a round that finds nothing to do costs one status call per
	// member.
	DefaultMaintenanceInterval = time.Hour
	// DefaultFreeRatio defragments a member once half its database file is
	// free pages.
	DefaultFreeRatio = 0.5
	// DefaultMinFreeBytes is the least free space worth blocking a member
	// for: a small database is not defragmented for a few megabytes.
	DefaultMinFreeBytes = 64 << 20
	// DefaultSpaceAlarmRetention is how many revisions the compaction that
	// heals a NOSPACE alarm keeps.
	DefaultSpaceAlarmRetention = 1000
	// DefaultSpaceAlarmMargin disarms NOSPACE once every member's database
	// is at most 90% of the quota.
	DefaultSpaceAlarmMargin = 0.1
	// EtcdDefaultQuotaBytes is etcd's --quota-backend-bytes when none is
	// set (2 GiB).
	EtcdDefaultQuotaBytes = 2 << 30
)

// MinMaintenanceInterval is the shortest interval a spec may ask for.
const MinMaintenanceInterval = time.Minute

// Maintenance keeps the members' databases small: a systemd timer runs
// `etcdboot-agent defrag` every Interval on every member; under the
// cluster-wide lock, one round defragments the members whose database file is
// fragmented beyond Fragmentation, one at a time and the leader last, inside
// Window. A NOSPACE alarm is healed whenever it is raised (see SpaceAlarm).
//
//	maintenance:
//	  interval: 1h
//	  fragmentation: {freeRatio: 0.5, minFreeBytes: 64MiB}
//	  window: {start: "02:00", duration: 4h}   # UTC; left out: any time
//	  spaceAlarm: {retention: 1000, margin: 0.1}
type Maintenance struct {
	// Interval is the time between two rounds (the timer's OnUnitActiveSec).
	Interval Duration `yaml:"interval,omitempty"`
	// Fragmentation says when a member's database is worth defragmenting.
	Fragmentation Fragmentation `yaml:"fragmentation,omitempty"`
	// Window limits scheduled defragmentation to a daily span of time; nil
	// is any time. Healing a NOSPACE alarm ignores it.
	Window *MaintenanceWindow `yaml:"window,omitempty"`
	// SpaceAlarm says how a NOSPACE alarm is healed.
	SpaceAlarm SpaceAlarm `yaml:"spaceAlarm,omitempty"`
}

// Fragmentation is the threshold of a member's defragmentation: both the
// share of free pages and their size must be reached.
type Fragmentation struct {
	// FreeRatio is the least share of the database file that is free
	// (db size minus db size in use, over db size), between 0 and 1;
	// written 0.5 or 50%.
	FreeRatio Ratio `yaml:"freeRatio,omitempty"`
	// MinFreeBytes is the least free space, e.g. 64MiB.
	MinFreeBytes ByteSize `yaml:"minFreeBytes,omitempty"`
}

// MaintenanceWindow is a daily span of time, in UTC.
type MaintenanceWindow struct {
	// Start is the time of day the window opens, "HH:MM" in UTC.
	Start string `yaml:"start"`
	// Duration is how long it stays open, at most 24h.
	Duration Duration `yaml:"duration"`
}

// SpaceAlarm says how the agent holding the cluster-wide lock heals a
// NOSPACE alarm: compact to the current revision minus Retention,
// defragment every member, and disarm once every member's database is at
// most (1 - Margin) of the quota.
type SpaceAlarm struct {
	// Retention is how many revisions the compaction keeps.
	Retention int64 `yaml:"retention,omitempty"`
	// Margin is the share of the quota that must be free again before the
	// alarm is disarmed, so that it is not raised again at the next write.
	Margin Ratio `yaml:"margin,omitempty"`
}

// ApplyDefaults fills every unset field of a maintenance section: hourly
// rounds, half the file free and at least 64MiB, any time of day, 1000
// revisions kept and a 10% margin when healing NOSPACE.
func (m *Maintenance) ApplyDefaults() {
	if m.Interval == 0 {
		m.Interval = Duration(DefaultMaintenanceInterval)
	}
	if m.Fragmentation.FreeRatio == 0 {
		m.Fragmentation.FreeRatio = DefaultFreeRatio
	}
	if m.Fragmentation.MinFreeBytes == 0 {
		m.Fragmentation.MinFreeBytes = DefaultMinFreeBytes
	}
	if m.SpaceAlarm.Retention == 0 {
		m.SpaceAlarm.Retention = DefaultSpaceAlarmRetention
	}
	if m.SpaceAlarm.Margin == 0 {
		m.SpaceAlarm.Margin = DefaultSpaceAlarmMargin
	}
}

// InWindow reports whether t falls inside the window; a nil window is
// always open. A window may span midnight ("23:00" for 3h).
func (w *MaintenanceWindow) InWindow(t time.Time) bool {
	if w == nil {
		return true
	}
	start, err := ParseTimeOfDay(w.Start)
	if err != nil {
		return false
	}
	d := w.Duration.Std()
	if d >= 24*time.Hour {
		return true
	}
	t = t.UTC()
	since := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
	since -= start
	if since < 0 {
		since += 24 * time.Hour
	}
	return since < d
}

// ParseTimeOfDay parses "HH:MM" (00:00 to 23:59) into the time since
// midnight.
func ParseTimeOfDay(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not a time of day; write HH:MM in UTC, e.g. \"02:00\"", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("%q is not a time of day; write HH:MM in UTC, e.g. \"02:00\"", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// QuotaBytes is the backend quota etcd runs with: quotaBackendBytes, or
// etcd's default of 2 GiB when it is not set.
func (e Etcd) QuotaBytes() int64 {
	if e.QuotaBackendBytes > 0 {
		return int64(e.QuotaBackendBytes)
	}
	return EtcdDefaultQuotaBytes
}

// Ratio is a share between 0 and 1, written 0.25 or 25%.
type Ratio float64

// UnmarshalYAML accepts a number or a percentage.
func (r *Ratio) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a share such as 0.5 or 50%%")
	}
	s := strings.TrimSpace(n.Value)
	div := 1.0
	if num, ok := strings.CutSuffix(s, "%"); ok {
		s, div = strings.TrimSpace(num), 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v != v { // NaN
		return fmt.Errorf("%q is not a share; write e.g. 0.5 or 50%%", n.Value)
	}
	*r = Ratio(v / div)
	return nil
}

// MarshalYAML writes the share as a number.
func (r Ratio) MarshalYAML() (any, error) { return float64(r), nil }

// String writes the share as a percentage to a tenth, "50%" or "33.3%".
func (r Ratio) String() string {
	return strconv.FormatFloat(math.Round(float64(r)*1000)/10, 'f', -1, 64) + "%"
}
