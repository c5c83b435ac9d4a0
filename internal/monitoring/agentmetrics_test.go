package monitoring

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestAgentMetricsExposeWhatTheRulesAlertOn(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewAgentMetrics(reg)
	m.SetPhase("discovery")
	m.SetPhase("membership")
	m.IncJoinAttempts()
	m.IncJoinAttempts()
	m.BackupDone(false, time.Unix(1700000000, 0))
	m.BackupDone(true, time.Unix(1700003600, 0))
	m.SetCertExpiry("server", time.Unix(1800000000, 0))
	m.SetCertExpiry("peer", time.Unix(1800000500, 0))
	m.SetPhase(PhaseReady)
	m.IncRecoverySkipped()
	m.SetEtcdVersion("3.6.16", false)
	m.SetEtcdVersion("3.7.3", true) // a later run: only the release that runs is exported

	want := `
# HELP etcdboot_agent_etcd_version_info 1 for the etcd release the agent starts (the image's binary, which is what runs).
# TYPE etcdboot_agent_etcd_version_info gauge
etcdboot_agent_etcd_version_info{version="3.7.3"} 1
# HELP etcdboot_agent_etcd_version_mismatch 1 when the node payload's etcd.version differs from the image's etcd binary (the binary runs).
# TYPE etcdboot_agent_etcd_version_mismatch gauge
etcdboot_agent_etcd_version_mismatch 1
# HELP etcdboot_agent_recovery_backups_skipped_total Backups a recovery after a total loss skipped because they failed their checks (size, sha256, etcd's hash, revision, keys).
# TYPE etcdboot_agent_recovery_backups_skipped_total counter
etcdboot_agent_recovery_backups_skipped_total 1
# HELP etcdboot_agent_join_attempts_total Attempts to add this member to a running cluster as a learner.
# TYPE etcdboot_agent_join_attempts_total counter
etcdboot_agent_join_attempts_total 2
# HELP etcdboot_agent_phase The agent's current phase: 1 for the current phase, 0 for phases it went through; ready once its member answers ready.
# TYPE etcdboot_agent_phase gauge
etcdboot_agent_phase{phase="discovery"} 0
etcdboot_agent_phase{phase="membership"} 0
etcdboot_agent_phase{phase="ready"} 1
# HELP etcdboot_backup_last_success_timestamp_seconds Unix time of the agent's newest good snapshot; 0 when none succeeded since it started backing up.
# TYPE etcdboot_backup_last_success_timestamp_seconds gauge
etcdboot_backup_last_success_timestamp_seconds 1.7000036e+09
# HELP etcdboot_backups_total Snapshots taken by the agent, by result (ok or failed).
# TYPE etcdboot_backups_total counter
etcdboot_backups_total{result="failed"} 1
etcdboot_backups_total{result="ok"} 1
# HELP etcdboot_certificate_expiry_timestamp_seconds Unix time at which a certificate the member uses expires (its NotAfter), by certificate.
# TYPE etcdboot_certificate_expiry_timestamp_seconds gauge
etcdboot_certificate_expiry_timestamp_seconds{cert="peer"} 1.8000005e+09
etcdboot_certificate_expiry_timestamp_seconds{cert="server"} 1.8e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

func TestAgentWithoutBackupsExportsNoBackupAge(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewAgentMetrics(reg)
	m.SetPhase(PhaseReady)
	if n := testutil.CollectAndCount(m.lastBackup); n != 0 {
		t.Errorf("%s has %d series before any backup; an agent that takes none would look 55 years late", MetricBackupLastSuccess, n)
	}
	// Both results are exported at 0 from the start, so rate() sees the
	// first failure.
	if got := testutil.ToFloat64(m.backups.WithLabelValues(BackupFailed)); got != 0 {
		t.Errorf("failed backups = %v", got)
	}
	m.BackupDone(false, time.Now())
	if got := testutil.ToFloat64(m.lastBackup); got != 0 {
		t.Errorf("last success after only a failure = %v, want 0 (never)", got)
	}
	m.SetLastBackupSuccess(time.Unix(1700000000, 0))
	if got := testutil.ToFloat64(m.lastBackup); got != 1700000000 {
		t.Errorf("last success restored from the journal = %v", got)
	}
	if got := testutil.ToFloat64(m.backups.WithLabelValues(BackupOK)); got != 0 {
		t.Errorf("restoring the last success counted a backup: %v", got)
	}
}

func TestSetPhaseKeepsExactlyOneCurrentPhase(t *testing.T) {
	m := NewAgentMetrics(prometheus.NewRegistry())
	for _, p := range []string{"payload", "firewall", "payload", "ready"} {
		m.SetPhase(p)
		current := 0
		for _, q := range []string{"payload", "firewall", "ready"} {
			if testutil.ToFloat64(m.phase.WithLabelValues(q)) == 1 {
				current++
			}
		}
		if current != 1 || testutil.ToFloat64(m.phase.WithLabelValues(p)) != 1 {
			t.Errorf("after SetPhase(%q): %d phases at 1", p, current)
		}
	}
}

func TestHandlerServesTheRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewAgentMetrics(reg)
	m.SetPhase("start")
	srv := httptest.NewServer(Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `etcdboot_agent_phase{phase="start"} 1`) {
		t.Errorf("GET /metrics: %s\n%s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestRegisteringTwiceWithOneRegistryPanics(t *testing.T) {
	reg := prometheus.NewRegistry()
	NewAgentMetrics(reg)
	defer func() {
		if recover() == nil {
			t.Error("second NewAgentMetrics on one registry did not panic")
		}
	}()
	NewAgentMetrics(reg)
}

// TestUploadMetricsAppearWithTheFirstUpload: an agent without backup.target
// exports no upload series; the first upload brings both results and the
// last-upload gauge.
func TestUploadMetricsAppearWithTheFirstUpload(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewAgentMetrics(reg)
	if n, err := testutil.GatherAndCount(reg, MetricBackupUploads, MetricBackupLastUpload); err != nil || n != 0 {
		t.Fatalf("%d upload series before any upload (%v)", n, err)
	}
	m.UploadDone(false, time.Unix(1700000000, 0))
	m.UploadDone(true, time.Unix(1700003600, 0))
	want := `
# HELP etcdboot_backup_last_upload_timestamp_seconds Unix time the newest snapshot uploaded to backup.target was taken; 0 when no upload succeeded since the agent started uploading.
# TYPE etcdboot_backup_last_upload_timestamp_seconds gauge
etcdboot_backup_last_upload_timestamp_seconds 1.7000036e+09
# HELP etcdboot_backup_uploads_total Snapshots uploaded to backup.target, by result (ok or failed).
# TYPE etcdboot_backup_uploads_total counter
etcdboot_backup_uploads_total{result="failed"} 1
etcdboot_backup_uploads_total{result="ok"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricBackupUploads, MetricBackupLastUpload); err != nil {
		t.Error(err)
	}
}
