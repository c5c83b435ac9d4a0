package monitoring

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of the maintenance metrics; etcdbootSpaceAlarm alerts on
// MetricEtcdAlarm.
const (
	MetricMaintenanceRounds    = "etcdboot_maintenance_rounds_total"
	MetricMaintenanceReclaimed = "etcdboot_maintenance_reclaimed_bytes_total"
	MetricMaintenanceDuration  = "etcdboot_maintenance_round_duration_seconds"
	MetricEtcdAlarm            = "etcdboot_etcd_alarm"
)

// Values of the kind and result labels of MetricMaintenanceRounds, and of
// the alarm label of MetricEtcdAlarm.
const (
	MaintenanceDefrag  = "defrag"
	MaintenanceHeal    = "heal"
	MaintenanceOK      = "ok"
	MaintenanceFailed  = "failed"
	MaintenanceSkipped = "skipped"
	AlarmNoSpace       = "NOSPACE"
	AlarmCorrupt       = "CORRUPT"
)

// maintenanceDurationBuckets span a round that defragments small databases
// (a second) to one that blocks several large ones in turn (half an hour).
var maintenanceDurationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800}

// MaintenanceMetrics are the collectors of the agent's maintenance rounds
// (defragmentation and NOSPACE heals, read from the round's state file) and
// of the cluster's alarms, which the watcher polls. Its methods are safe
// for concurrent use.
type MaintenanceMetrics struct {
	rounds    *prometheus.CounterVec
	reclaimed prometheus.Counter
	duration  *prometheus.HistogramVec
	// alarms has a series per alarm type once the watcher has asked: an
	// agent that cannot ask must not look like one that saw no alarm.
	alarms *prometheus.GaugeVec
}

// NewMaintenanceMetrics creates the maintenance collectors and registers
// them with reg, beside NewAgentMetrics' on the agent's registry.
func NewMaintenanceMetrics(reg prometheus.Registerer) *MaintenanceMetrics {
	c := collectors{reg}
	m := &MaintenanceMetrics{
		rounds:    c.counterVec(MetricMaintenanceRounds, "Maintenance rounds this agent ran, by kind (defrag, or heal of a NOSPACE alarm) and result (ok, failed, skipped).", "kind", "result"),
		reclaimed: c.counter(MetricMaintenanceReclaimed, "Bytes this agent's maintenance rounds gave back by defragmentation, summed over the members they defragmented."),
		duration:  c.histogramVec(MetricMaintenanceDuration, "How long this agent's maintenance rounds that acted (not skipped) took, by kind.", maintenanceDurationBuckets, "kind"),
		alarms:    c.gaugeVec(MetricEtcdAlarm, "1 while the cluster holds an alarm of this type (NOSPACE, CORRUPT), as the agent's member lists it; 0 otherwise.", "alarm"),
	}
	for _, kind := range []string{MaintenanceDefrag, MaintenanceHeal} {
		for _, result := range []string{MaintenanceOK, MaintenanceFailed, MaintenanceSkipped} {
			m.rounds.WithLabelValues(kind, result)
		}
	}
	return m
}

// RoundsDone counts n rounds of kind that ended with result.
func (m *MaintenanceMetrics) RoundsDone(kind, result string, n uint64) {
	m.rounds.WithLabelValues(kind, result).Add(float64(n))
}

// Reclaimed counts bytes given back.
func (m *MaintenanceMetrics) Reclaimed(bytes int64) {
	if bytes > 0 {
		m.reclaimed.Add(float64(bytes))
	}
}

// RoundTook records how long a round of kind that acted took.
func (m *MaintenanceMetrics) RoundTook(kind string, d time.Duration) {
	m.duration.WithLabelValues(kind).Observe(d.Seconds())
}

// SetAlarms records the alarm types the cluster holds now: each of
// NOSPACE and CORRUPT is exported, 1 when raised, and any other type etcd
// names once raised.
func (m *MaintenanceMetrics) SetAlarms(raised []string) {
	up := map[string]bool{AlarmNoSpace: false, AlarmCorrupt: false}
	for _, a := range raised {
		up[a] = true
	}
	for a, on := range up {
		v := 0.0
		if on {
			v = 1
		}
		m.alarms.WithLabelValues(a).Set(v)
	}
}
