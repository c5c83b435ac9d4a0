package monitoring

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Names of the agent's metrics; the rules in Rules alert on them.
const (
	MetricAgentPhase        = "etcdboot_agent_phase"
	MetricJoinAttempts      = "etcdboot_agent_join_attempts_total"
	MetricBackups           = "etcdboot_backups_total"
	MetricBackupLastSuccess = "etcdboot_backup_last_success_timestamp_seconds"
	MetricBackupUploads     = "etcdboot_backup_uploads_total"
	MetricBackupLastUpload  = "etcdboot_backup_last_upload_timestamp_seconds"
	MetricCertExpiry        = "etcdboot_certificate_expiry_timestamp_seconds"
	MetricEtcdVersion       = "etcdboot_agent_etcd_version_info"
	MetricVersionMismatch   = "etcdboot_agent_etcd_version_mismatch"
	MetricRecoverySkipped   = "etcdboot_agent_recovery_backups_skipped_total"
)

// PhaseReady is the phase of an agent whose member answers ready; any other
// phase held for long fires etcdbootAgentNotReady. The other phases are the
// agent's step names (bootstrap.Step).
const PhaseReady = "ready"

// Values of the result label of MetricBackups.
const (
	BackupOK     = "ok"
	BackupFailed = "failed"
)

// AgentMetrics are the collectors etcdboot-agent exposes: its phase, join
// attempts, backup outcomes and the expiry of the certificates it holds.
// Its methods are safe for concurrent use.
type AgentMetrics struct {
	mu sync.Mutex
	// phases are the phases seen so far; the current one is 1, the others 0,
	// so a scrape always sees one phase at 1 (kube-state-metrics' pattern).
	phase  *prometheus.GaugeVec
	phases map[string]bool

	joinAttempts prometheus.Counter
	backups      *prometheus.CounterVec
	// lastBackup has no labels but is a vector so that it is exported only
	// once a backup ran: an agent that takes no backups must not look like
	// one whose last success was in 1970.
	lastBackup *prometheus.GaugeVec
	// uploads and lastUpload are the same for uploads to backup.target; a
	// round whose upload fails fails, so with a target lastBackup is also
	// the newest upload, and etcdbootBackupTooOld counts uploads.
	uploads    *prometheus.CounterVec
	lastUpload *prometheus.GaugeVec
	certExpiry *prometheus.GaugeVec
	// etcdVersion is 1 for the release the agent starts; mismatch is 1 when
	// the payload names another release than the image carries.
	etcdVersion *prometheus.GaugeVec
	mismatch    prometheus.Gauge
	// recoverySkipped counts backups a recovery skipped as failing their
	// checks.
	recoverySkipped prometheus.Counter
}

// NewAgentMetrics creates the agent's collectors and registers them with reg.
// Registering twice with one registry panics, as prometheus.MustRegister does:
// that is a programming error, not an input one.
func NewAgentMetrics(reg prometheus.Registerer) *AgentMetrics {
	c := collectors{reg}
	m := &AgentMetrics{
		phase:           c.gaugeVec(MetricAgentPhase, "The agent's current phase: 1 for the current phase, 0 for phases it went through; "+PhaseReady+" once its member answers ready.", "phase"),
		phases:          map[string]bool{},
		joinAttempts:    c.counter(MetricJoinAttempts, "Attempts to add this member to a running cluster as a learner."),
		backups:         c.counterVec(MetricBackups, "Snapshots taken by the agent, by result (ok or failed).", "result"),
		lastBackup:      c.gaugeVec(MetricBackupLastSuccess, "Unix time of the agent's newest good snapshot; 0 when none succeeded since it started backing up."),
		uploads:         c.counterVec(MetricBackupUploads, "Snapshots uploaded to backup.target, by result (ok or failed).", "result"),
		lastUpload:      c.gaugeVec(MetricBackupLastUpload, "Unix time the newest snapshot uploaded to backup.target was taken; 0 when no upload succeeded since the agent started uploading."),
		certExpiry:      c.gaugeVec(MetricCertExpiry, "Unix time at which a certificate the member uses expires (its NotAfter), by certificate.", "cert"),
		etcdVersion:     c.gaugeVec(MetricEtcdVersion, "1 for the etcd release the agent starts (the image's binary, which is what runs).", "version"),
		recoverySkipped: c.counter(MetricRecoverySkipped, "Backups a recovery after a total loss skipped because they failed their checks (size, sha256, etcd's hash, revision, keys)."),
		mismatch:        c.gauge(MetricVersionMismatch, "1 when the node payload's etcd.version differs from the image's etcd binary (the binary runs)."),
	}
	// Both results exist from the start, so rate() sees the first failure.
	m.backups.WithLabelValues(BackupOK)
	m.backups.WithLabelValues(BackupFailed)
	return m
}

// SetPhase records the agent's current phase: a bootstrap step name, or
// PhaseReady once the member is healthy.
func (m *AgentMetrics) SetPhase(phase string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// The new phase goes to 1 before the old one goes to 0, so no scrape
	// sees the agent in no phase at all.
	m.phase.WithLabelValues(phase).Set(1)
	m.phases[phase] = true
	for p := range m.phases {
		if p != phase {
			m.phase.WithLabelValues(p).Set(0)
		}
	}
}

// SetEtcdVersion records the etcd release the agent starts and whether the
// payload named another one.
func (m *AgentMetrics) SetEtcdVersion(version string, mismatch bool) {
	m.etcdVersion.Reset()
	m.etcdVersion.WithLabelValues(version).Set(1)
	if mismatch {
		m.mismatch.Set(1)
	} else {
		m.mismatch.Set(0)
	}
}

// IncRecoverySkipped counts a backup a recovery skipped.
func (m *AgentMetrics) IncRecoverySkipped() { m.recoverySkipped.Inc() }

// IncJoinAttempts counts one attempt to join a running cluster.
func (m *AgentMetrics) IncJoinAttempts() { m.joinAttempts.Inc() }

// BackupDone counts a snapshot attempt that finished at at and, when it
// succeeded, makes at the last success. The first call makes the last-success
// gauge appear, at 0 if that backup failed, so an agent whose backups never
// succeed fires etcdbootBackupTooOld.
func (m *AgentMetrics) BackupDone(ok bool, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.lastBackup.WithLabelValues()
	if ok {
		m.backups.WithLabelValues(BackupOK).Inc()
		g.Set(unixSeconds(at))
		return
	}
	m.backups.WithLabelValues(BackupFailed).Inc()
}

// UploadDone counts an upload to backup.target of a snapshot taken at at
// and, when it succeeded, makes at the last upload. Like BackupDone, the
// first call makes the last-upload gauge appear. The counter's results
// appear with the first upload, so an agent without a target exports none.
func (m *AgentMetrics) UploadDone(ok bool, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	g := m.lastUpload.WithLabelValues()
	m.uploads.WithLabelValues(BackupOK)
	m.uploads.WithLabelValues(BackupFailed)
	if ok {
		m.uploads.WithLabelValues(BackupOK).Inc()
		g.Set(unixSeconds(at))
		return
	}
	m.uploads.WithLabelValues(BackupFailed).Inc()
}

// SetLastUploadSuccess sets the last good upload without counting one, for
// an agent that restarts and reads it from the backup state file.
func (m *AgentMetrics) SetLastUploadSuccess(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastUpload.WithLabelValues().Set(unixSeconds(at))
}

// SetLastBackupSuccess sets the last good backup without counting a run: for
// an agent that restarts and knows its newest snapshot from its journal, so
// a restart does not reset the backup's age.
func (m *AgentMetrics) SetLastBackupSuccess(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastBackup.WithLabelValues().Set(unixSeconds(at))
}

// SetCertExpiry records the NotAfter of the certificate the agent calls name
// (server, peer, ca, issuer).
func (m *AgentMetrics) SetCertExpiry(name string, notAfter time.Time) {
	m.certExpiry.WithLabelValues(name).Set(unixSeconds(notAfter))
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Handler serves the metrics g gathers in Prometheus' text format, for
// /metrics. Pass the registry given to NewAgentMetrics.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
