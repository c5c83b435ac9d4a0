package bootstrap

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/etcdboot/etcdboot/bootstrap/maintenance"
	"github.com/etcdboot/etcdboot/internal/monitoring"
)

// TestMaintenanceMetricsFollowTheStateFile: a state file found at start is
// a baseline; later rounds are counted by kind and result, their reclaimed
// bytes added and an acting round's duration observed once.
func TestMaintenanceMetricsFollowTheStateFile(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	mm := monitoring.NewMaintenanceMetrics(reg)
	a := &Agent{cfg: Config{StateDir: dir, Now: time.Now}, log: slog.New(slog.DiscardHandler), maintenanceMetrics: mm}
	var f maintenanceFollower
	stamp := time.Now().Add(-time.Hour)
	var st maintenance.State
	record := func(r maintenance.Round) {
		t.Helper()
		if r.Result != "" {
			st = st.Record(r)
		}
		data, _ := json.Marshal(st)
		p := filepath.Join(dir, maintenance.StateFile)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		stamp = stamp.Add(time.Second)
		if err := os.Chtimes(p, stamp, stamp); err != nil {
			t.Fatal(err)
		}
		a.syncMaintenanceMetrics(&f)
	}
	rounds := func(kind, result string) float64 {
		return testutil.ToFloat64(counterOf(t, reg, monitoring.MetricMaintenanceRounds, kind, result))
	}
	at := time.Now()
	// Rounds of an earlier process: a baseline, nothing counted.
	record(maintenance.Round{Kind: maintenance.KindDefrag, Result: maintenance.ResultOK, Started: at, Finished: at.Add(time.Second), Reclaimed: 1000, Members: []maintenance.MemberResult{{Name: "etcd1"}}})
	if v, _ := metricValue(t, reg, monitoring.MetricMaintenanceReclaimed, ""); v != 0 || rounds("defrag", "ok") != 0 {
		t.Fatalf("the baseline was counted: reclaimed %v, ok %v", v, rounds("defrag", "ok"))
	}
	record(maintenance.Round{Kind: maintenance.KindDefrag, Result: maintenance.ResultSkipped, Started: at.Add(time.Minute), Finished: at.Add(time.Minute)})
	record(maintenance.Round{Kind: maintenance.KindDefrag, Result: maintenance.ResultOK, Started: at.Add(2 * time.Minute), Finished: at.Add(2*time.Minute + 7*time.Second), Reclaimed: 5000, Members: []maintenance.MemberResult{{Name: "etcd2"}}})
	record(maintenance.Round{Kind: maintenance.KindHeal, Result: maintenance.ResultFailed, Started: at.Add(3 * time.Minute), Finished: at.Add(3*time.Minute + 20*time.Second)})
	record(maintenance.Round{}) // rewritten, unchanged: nothing new
	if rounds("defrag", "skipped") != 1 || rounds("defrag", "ok") != 1 || rounds("heal", "failed") != 1 || rounds("heal", "ok") != 0 {
		t.Errorf("rounds: defrag skipped %v ok %v, heal failed %v ok %v", rounds("defrag", "skipped"), rounds("defrag", "ok"), rounds("heal", "failed"), rounds("heal", "ok"))
	}
	if v, _ := metricValue(t, reg, monitoring.MetricMaintenanceReclaimed, ""); v != 5000 {
		t.Errorf("reclaimed %v, want 5000", v)
	}
	if n := testutil.CollectAndCount(reg, monitoring.MetricMaintenanceDuration); n != 2 {
		t.Errorf("duration series %d, want one per kind that acted", n)
	}
}

// counterOf finds the counter of name with the kind and result labels.
func counterOf(t *testing.T, reg *prometheus.Registry, name, kind, result string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["result"] == result {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no %s{kind=%q,result=%q}", name, kind, result)
	return nil
}
