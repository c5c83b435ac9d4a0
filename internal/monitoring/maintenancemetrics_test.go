package monitoring

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMaintenanceMetricsExposeRoundsReclaimedAndAlarms(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	NewAgentMetrics(reg) // both on the agent's one registry
	m := NewMaintenanceMetrics(reg)
	m.RoundsDone(MaintenanceDefrag, MaintenanceOK, 2)
	m.RoundsDone(MaintenanceDefrag, MaintenanceSkipped, 5)
	m.RoundsDone(MaintenanceHeal, MaintenanceOK, 1)
	m.Reclaimed(3 << 20)
	m.Reclaimed(-1) // a round whose member grew gives nothing back
	m.RoundTook(MaintenanceDefrag, 12*time.Second)
	m.RoundTook(MaintenanceHeal, 40*time.Second)
	m.SetAlarms([]string{AlarmNoSpace})

	want := `
# HELP etcdboot_etcd_alarm 1 while the cluster holds an alarm of this type (NOSPACE, CORRUPT), as the agent's member lists it; 0 otherwise.
# TYPE etcdboot_etcd_alarm gauge
etcdboot_etcd_alarm{alarm="CORRUPT"} 0
etcdboot_etcd_alarm{alarm="NOSPACE"} 1
# HELP etcdboot_maintenance_reclaimed_bytes_total Bytes this agent's maintenance rounds gave back by defragmentation, summed over the members they defragmented.
# TYPE etcdboot_maintenance_reclaimed_bytes_total counter
etcdboot_maintenance_reclaimed_bytes_total 3.145728e+06
# HELP etcdboot_maintenance_rounds_total Maintenance rounds this agent ran, by kind (defrag, or heal of a NOSPACE alarm) and result (ok, failed, skipped).
# TYPE etcdboot_maintenance_rounds_total counter
etcdboot_maintenance_rounds_total{kind="defrag",result="failed"} 0
etcdboot_maintenance_rounds_total{kind="defrag",result="ok"} 2
etcdboot_maintenance_rounds_total{kind="defrag",result="skipped"} 5
etcdboot_maintenance_rounds_total{kind="heal",result="failed"} 0
etcdboot_maintenance_rounds_total{kind="heal",result="ok"} 1
etcdboot_maintenance_rounds_total{kind="heal",result="skipped"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricEtcdAlarm, MetricMaintenanceReclaimed, MetricMaintenanceRounds); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.duration); n != 2 {
		t.Errorf("duration histograms: %d series, want one per kind", n)
	}
	m.SetAlarms(nil)
	if v := testutil.ToFloat64(m.alarms.WithLabelValues(AlarmNoSpace)); v != 0 {
		t.Errorf("NOSPACE gauge %v after the alarm was disarmed", v)
	}
}

func TestAlarmsAreExportedOnlyOnceAsked(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	NewMaintenanceMetrics(reg)
	if n, err := testutil.GatherAndCount(reg, MetricEtcdAlarm); err != nil || n != 0 {
		t.Errorf("%d alarm series before the watcher asked (%v): an agent that cannot ask must not say no alarm", n, err)
	}
}
