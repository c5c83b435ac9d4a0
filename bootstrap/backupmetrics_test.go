package bootstrap

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/etcdboot/etcdboot/bootstrap/backup"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/internal/roundstate"
)

// metricValue returns the value of the series of name whose result label
// (if any) is result, and whether it exists.
func metricValue(t *testing.T, reg *prometheus.Registry, name, result string) (float64, bool) {
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
			ok := result == ""
			for _, l := range m.GetLabel() {
				ok = ok || (l.GetName() == "result" && l.GetValue() == result)
			}
			if !ok {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestBackupMetricsFollowTheStateFile(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	a := &Agent{cfg: Config{StateDir: dir, Now: time.Now}, log: slog.New(slog.DiscardHandler), metrics: monitoring.NewAgentMetrics(reg)}
	var f backupFollower
	stamp := time.Now().Add(-time.Hour)
	write := func(st backup.State) {
		t.Helper()
		data, _ := json.Marshal(st)
		p := filepath.Join(dir, backup.StateFile)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// Every write looks new, however fast the test runs.
		stamp = stamp.Add(time.Second)
		if err := os.Chtimes(p, stamp, stamp); err != nil {
			t.Fatal(err)
		}
		a.syncBackupMetrics(&f)
	}
	expect := func(step string, ok, failed float64, last time.Time) {
		t.Helper()
		if v, _ := metricValue(t, reg, monitoring.MetricBackups, monitoring.BackupOK); v != ok {
			t.Errorf("%s: ok = %v, want %v", step, v, ok)
		}
		if v, _ := metricValue(t, reg, monitoring.MetricBackups, monitoring.BackupFailed); v != failed {
			t.Errorf("%s: failed = %v, want %v", step, v, failed)
		}
		v, present := metricValue(t, reg, monitoring.MetricBackupLastSuccess, "")
		switch {
		case last.IsZero() && present:
			t.Errorf("%s: last success exported (%v) before any backup ran here", step, v)
		case !last.IsZero() && (!present || v != float64(last.UnixNano())/1e9):
			t.Errorf("%s: last success = %v (present %v), want %v", step, v, present, last.Unix())
		}
	}
	t1 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(time.Hour), t1.Add(2*time.Hour)

	a.syncBackupMetrics(&f)
	expect("no state file", 0, 0, time.Time{})
	write(backup.State{Counts: roundstate.Counts{Skipped: 2}})
	expect("only skipped rounds (not the writer)", 0, 0, time.Time{})
	write(backup.State{Counts: roundstate.Counts{Skipped: 3}})
	expect("another skip", 0, 0, time.Time{})
	write(backup.State{Counts: roundstate.Counts{Failed: 1, Skipped: 3}, Last: &backup.Round{Finished: t1}})
	expect("first failure: the gauge appears at 0", 0, 1, time.Unix(0, 0))
	write(backup.State{Counts: roundstate.Counts{OK: 2, Failed: 1, Skipped: 3}, LastSuccess: t2})
	expect("two successes", 2, 1, t2)

	// A restarted watcher takes the file as its baseline: the age survives,
	// the counters start again.
	reg = prometheus.NewRegistry()
	a.metrics, f = monitoring.NewAgentMetrics(reg), backupFollower{}
	write(backup.State{Counts: roundstate.Counts{OK: 2, Failed: 1, Skipped: 3}, LastSuccess: t2})
	expect("after a restart", 0, 0, t2)
	write(backup.State{Counts: roundstate.Counts{OK: 3, Failed: 1, Skipped: 3}, LastSuccess: t3})
	expect("a success after the restart", 1, 0, t3)

	// A watcher that starts before the first round counts that round.
	reg = prometheus.NewRegistry()
	a.metrics, f = monitoring.NewAgentMetrics(reg), backupFollower{}
	if err := os.Remove(filepath.Join(dir, backup.StateFile)); err != nil {
		t.Fatal(err)
	}
	a.syncBackupMetrics(&f)
	write(backup.State{Counts: roundstate.Counts{OK: 1}, LastSuccess: t1})
	expect("the first round ever", 1, 0, t1)
}

// TestBackupMetricsCountUploads: uploads to backup.target recorded in the
// state file become the uploads counter and the last-upload gauge; a
// restarted watcher keeps the gauge and counts only new uploads.
func TestBackupMetricsCountUploads(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	a := &Agent{cfg: Config{StateDir: dir, Now: time.Now}, log: slog.New(slog.DiscardHandler), metrics: monitoring.NewAgentMetrics(reg)}
	var f backupFollower
	stamp := time.Now().Add(-time.Hour)
	write := func(st backup.State) {
		t.Helper()
		data, _ := json.Marshal(st)
		p := filepath.Join(dir, backup.StateFile)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		stamp = stamp.Add(time.Second)
		if err := os.Chtimes(p, stamp, stamp); err != nil {
			t.Fatal(err)
		}
		a.syncBackupMetrics(&f)
	}
	t1 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	a.syncBackupMetrics(&f) // no file yet: every round is new
	write(backup.State{Counts: roundstate.Counts{OK: 1, Failed: 1}, LastSuccess: t1, Uploads: 1, UploadsFailed: 1, LastUpload: t1, Last: &backup.Round{Finished: t1}})
	if v, _ := metricValue(t, reg, monitoring.MetricBackupUploads, monitoring.BackupOK); v != 1 {
		t.Errorf("uploads ok = %v, want 1", v)
	}
	if v, _ := metricValue(t, reg, monitoring.MetricBackupUploads, monitoring.BackupFailed); v != 1 {
		t.Errorf("uploads failed = %v, want 1", v)
	}
	if v, ok := metricValue(t, reg, monitoring.MetricBackupLastUpload, ""); !ok || v != float64(t1.Unix()) {
		t.Errorf("last upload = %v (%v), want %v", v, ok, t1.Unix())
	}
	reg = prometheus.NewRegistry()
	a.metrics, f = monitoring.NewAgentMetrics(reg), backupFollower{}
	write(backup.State{Counts: roundstate.Counts{OK: 1, Failed: 1}, LastSuccess: t1, Uploads: 1, UploadsFailed: 1, LastUpload: t1})
	if v, ok := metricValue(t, reg, monitoring.MetricBackupLastUpload, ""); !ok || v != float64(t1.Unix()) {
		t.Errorf("after a restart: last upload = %v (%v), want %v", v, ok, t1.Unix())
	}
	write(backup.State{Counts: roundstate.Counts{OK: 2, Failed: 1}, LastSuccess: t2, Uploads: 2, UploadsFailed: 1, LastUpload: t2})
	if v, _ := metricValue(t, reg, monitoring.MetricBackupUploads, monitoring.BackupOK); v != 1 {
		t.Errorf("after a restart: uploads ok = %v, want 1 (only the new one)", v)
	}
	if v, _ := metricValue(t, reg, monitoring.MetricBackupLastUpload, ""); v != float64(t2.Unix()) {
		t.Errorf("last upload = %v, want %v", v, t2.Unix())
	}
}
