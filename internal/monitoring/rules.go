package monitoring

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/spec"
)

// Scrape job names: the rules select on them and PrometheusConfig writes them.
const (
	// EtcdJob scrapes the members' /metrics (etcd's metrics URL).
	EtcdJob = "etcd"
	// AgentJob scrapes each member's etcdboot-agent /metrics.
	AgentJob = "etcdboot-agent"
)

// RuleOptions tune the alert rules; a zero field takes the value of
// DefaultRuleOptions.
type RuleOptions struct {
	// EtcdJob and AgentJob are the scrape jobs the rules select.
	EtcdJob  string
	AgentJob string
	// ScrapeInterval is Prometheus' scrape interval; the peer-failure rate
	// window is four of them, as in the upstream mixin.
	ScrapeInterval time.Duration
	// CertExpiryWarning fires etcdbootCertificateExpiringSoon when a
	// certificate has less than this left.
	CertExpiryWarning time.Duration
	// BackupMaxAge fires etcdbootBackupTooOld when the newest good backup of
	// the cluster is older than this.
	BackupMaxAge time.Duration
	// LearnerStuckFor fires etcdbootLearnerNotPromoted when a member stays a
	// learner this long.
	LearnerStuckFor time.Duration
	// AgentNotReadyFor fires etcdbootAgentNotReady when an agent stays in a
	// phase other than PhaseReady this long.
	AgentNotReadyFor time.Duration
}

// DefaultRuleOptions are the thresholds etcdboot ships: certificates warn 30
// days ahead, a daily backup may be an hour late, a join may take 15 minutes.
func DefaultRuleOptions() RuleOptions {
	return RuleOptions{
		EtcdJob:           EtcdJob,
		AgentJob:          AgentJob,
		ScrapeInterval:    DefaultScrapeInterval,
		CertExpiryWarning: 30 * 24 * time.Hour,
		BackupMaxAge:      25 * time.Hour,
		LearnerStuckFor:   15 * time.Minute,
		AgentNotReadyFor:  15 * time.Minute,
	}
}

// RuleOptionsFor returns DefaultRuleOptions adjusted to c's certificates and
// backup schedule: with a backup section, etcdbootBackupTooOld fires once two
// rounds in a row brought no good snapshot (plus an hour). A
// flat 30-day warning would always fire for certificates that live little
// longer (pki.expiry, or pki.intermediateExpiry for an autoscaling group,
// whose members' certificates end with the intermediate: 30 days by
// default), so it is capped at a third of their life: when etcdboot generate
// reissues them anyway.
func RuleOptionsFor(c *spec.Cluster) RuleOptions {
	o := DefaultRuleOptions()
	life := c.PKI.Expiry.Std()
	if c.Autoscaling != nil && c.PKI.IntermediateExpiry > 0 {
		life = min(life, c.PKI.IntermediateExpiry.Std())
	}
	if third := (life / 3).Truncate(time.Second); third > 0 && third < o.CertExpiryWarning {
		o.CertExpiryWarning = third
	}
	if c.Backup != nil && c.Backup.Interval > 0 {
		// The members' own schedule: two missed rounds and an hour's grace.
		o.BackupMaxAge = 2*c.Backup.Interval.Std() + time.Hour
	}
	return o
}

// withDefaults fills zero fields and refuses negative durations.
func (o RuleOptions) withDefaults() (RuleOptions, error) {
	def := DefaultRuleOptions()
	if o.EtcdJob == "" {
		o.EtcdJob = def.EtcdJob
	}
	if o.AgentJob == "" {
		o.AgentJob = def.AgentJob
	}
	var errs []error
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ScrapeInterval", &o.ScrapeInterval, def.ScrapeInterval},
		{"CertExpiryWarning", &o.CertExpiryWarning, def.CertExpiryWarning},
		{"BackupMaxAge", &o.BackupMaxAge, def.BackupMaxAge},
		{"LearnerStuckFor", &o.LearnerStuckFor, def.LearnerStuckFor},
		{"AgentNotReadyFor", &o.AgentNotReadyFor, def.AgentNotReadyFor},
	} {
		switch {
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("%s %s is negative", d.name, *d.v))
		case *d.v == 0:
			*d.v = d.def
		case *d.v%time.Second != 0:
			errs = append(errs, fmt.Errorf("%s %s is not a whole number of seconds", d.name, *d.v))
		}
	}
	return o, errors.Join(errs...)
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name  string      `yaml:"name"`
	Rules []alertRule `yaml:"rules"`
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// instanceLabels identify one member's series; alerts about the cluster as a
// whole aggregate them away (the mixin's etcd_instance_labels). member is the
// label PrometheusConfig puts on each static target.
const instanceLabels = "instance, member"

// Rules renders the alert rules file for one cluster: group "etcd" holds the
// upstream etcd mixin's alerts on member health, leadership, disk latency and
// quota; group "etcdboot" holds etcdboot's own on certificate expiry, an
// autoscaling group's issuer past two thirds of its life, backup age,
// learners that are never promoted, agents that are not ready and a NOSPACE
// alarm that stands.
// Every expression selects the series of the job and of cluster="<name>", the
// label PrometheusConfig gives every target, so one Prometheus can load the
// files of many clusters; an empty clusterName selects on the job alone.
func Rules(clusterName string, opts RuleOptions) ([]byte, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("render alert rules for cluster %q: %w", clusterName, err)
	}
	etcd := selector(opts.EtcdJob, clusterName)
	agent := selector(opts.AgentJob, clusterName)
	f := ruleFile{Groups: []ruleGroup{
		{Name: groupName("etcd", clusterName), Rules: etcdRules(etcd, opts)},
		{Name: groupName("etcdboot", clusterName), Rules: etcdbootRules(etcd, agent, opts)},
	}}
	var b bytes.Buffer
	b.WriteString("# Alert rules for etcd cluster " + clusterName + ", written by etcdboot.\n")
	b.WriteString("# Modelled on etcd's mixin (etcd-io/etcd contrib/mixin); check with `promtool check rules`.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("render alert rules for cluster %q: %w", clusterName, err)
	}
	return b.Bytes(), nil
}

func groupName(base, cluster string) string {
	if cluster == "" {
		return base
	}
	return base + "." + cluster
}

// selector is the label matcher of a job's series in one cluster.
func selector(job, cluster string) string {
	s := "job=" + strconv.Quote(job)
	if cluster != "" {
		s += ", cluster=" + strconv.Quote(cluster)
	}
	return s
}

// promDuration formats d the way Prometheus writes durations ("30d", "1m").
func promDuration(d time.Duration) string { return model.Duration(d).String() }

// humanDuration formats d for people: "30 days", "25h", "15m0s" as "15m".
func humanDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d%day == 0 && d >= 2*day:
		return strconv.FormatInt(int64(d/day), 10) + " days"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return promDuration(d)
}

// seconds formats d as a PromQL number of seconds.
func seconds(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

// expr replaces the placeholders of a rule expression and trims it.
func expr(tmpl string, kv ...string) string {
	return strings.TrimSpace(strings.NewReplacer(kv...).Replace(tmpl))
}

// etcdRules are the upstream mixin's alerts. Thresholds, windows and "for"
// durations are the mixin's; the gRPC and peer round-trip alerts are left
// out, since etcdboot members serve no traffic of their own to judge.
func etcdRules(sel string, opts RuleOptions) []alertRule {
	r := func(tmpl string) string {
		return expr(tmpl, "SEL", sel, "INSTANCE", instanceLabels, "RANGE", promDuration(4*opts.ScrapeInterval))
	}
	critical := map[string]string{"severity": "critical"}
	warning := map[string]string{"severity": "warning"}
	return []alertRule{
		{
			Alert: "etcdMembersDown",
			// The mixin's "A or B" keeps B only where its labels differ from
			// A's, which they do only under the Prometheus operator's endpoint
			// label: here A (0 while every scrape succeeds) would hide peer
			// send failures for good. "A > 0" drops it while it is 0.
			Expr: r(`
max without (endpoint) (
  (sum without (INSTANCE) (up{SEL} == bool 0) > 0)
or
  count without (To) (
    sum without (INSTANCE) (rate(etcd_network_peer_sent_failures_total{SEL}[RANGE])) > 0.01
  )
)
> 0`),
			For:    "10m",
			Labels: critical,
			Annotations: map[string]string{
				"summary":     "etcd cluster members are down.",
				"description": `etcd cluster "{{ $labels.cluster }}": {{ $value }} members are down or unreachable from their peers; ` + "`etcdboot status`" + ` shows which.`,
			},
		},
		{
			Alert: "etcdInsufficientMembers",
			Expr: r(`
sum without (INSTANCE) (up{SEL} == bool 1)
<
((count without (INSTANCE) (up{SEL}) + 1) / 2)`),
			For:    "3m",
			Labels: critical,
			Annotations: map[string]string{
				"summary":     "etcd cluster has insufficient number of members.",
				"description": `etcd cluster "{{ $labels.cluster }}": only {{ $value }} members are up, fewer than a quorum; writes fail until a majority is back.`,
			},
		},
		{
			Alert:  "etcdNoLeader",
			Expr:   r(`etcd_server_has_leader{SEL} == 0`),
			For:    "1m",
			Labels: critical,
			Annotations: map[string]string{
				"summary":     "etcd cluster has no leader.",
				"description": `etcd cluster "{{ $labels.cluster }}": member {{ $labels.instance }} has no leader.`,
			},
		},
		{
			Alert: "etcdHighNumberOfLeaderChanges",
			Expr: r(`
increase((max without (INSTANCE) (etcd_server_leader_changes_seen_total{SEL}) or 0 * absent(etcd_server_leader_changes_seen_total{SEL}))[15m:1m]) >= 4`),
			For:    "5m",
			Labels: warning,
			Annotations: map[string]string{
				"summary":     "etcd cluster has high number of leader changes.",
				"description": `etcd cluster "{{ $labels.cluster }}": {{ $value }} leader changes within the last 15 minutes. Frequent elections may be a sign of insufficient resources, high network latency, or disruptions by other components and should be investigated.`,
			},
		},
		fsyncRule(r, 0.5, warning),
		fsyncRule(r, 1, critical),
		{
			Alert:  "etcdHighCommitDurations",
			Expr:   r(`histogram_quantile(0.99, rate(etcd_disk_backend_commit_duration_seconds_bucket{SEL}[5m])) > 0.25`),
			For:    "10m",
			Labels: warning,
			Annotations: map[string]string{
				"summary":     "etcd cluster 99th percentile commit durations are too high.",
				"description": `etcd cluster "{{ $labels.cluster }}": 99th percentile commit durations are {{ $value }}s on etcd instance {{ $labels.instance }}.`,
			},
		},
		{
			Alert: "etcdDatabaseQuotaLowSpace",
			Expr: r(`
(last_over_time(etcd_mvcc_db_total_size_in_bytes{SEL}[5m]) / last_over_time(etcd_server_quota_backend_bytes{SEL}[5m])) * 100 > 95`),
			For:    "10m",
			Labels: critical,
			Annotations: map[string]string{
				"summary":     "etcd cluster database is running full.",
				"description": `etcd cluster "{{ $labels.cluster }}": the database of etcd instance {{ $labels.instance }} is at {{ $value | humanize }}% of its quota; defragment (etcdctl defrag) or raise etcd.quotaBackendBytes, since writes stop when it is full.`,
			},
		},
	}
}

func fsyncRule(r func(string) string, threshold float64, severity map[string]string) alertRule {
	return alertRule{
		Alert:  "etcdHighFsyncDurations",
		Expr:   r(`histogram_quantile(0.99, rate(etcd_disk_wal_fsync_duration_seconds_bucket{SEL}[5m])) > ` + strconv.FormatFloat(threshold, 'g', -1, 64)),
		For:    "10m",
		Labels: severity,
		Annotations: map[string]string{
			"summary":     "etcd cluster 99th percentile fsync durations are too high.",
			"description": `etcd cluster "{{ $labels.cluster }}": 99th percentile fsync durations are {{ $value }}s on etcd instance {{ $labels.instance }}.`,
		},
	}
}

// etcdbootRules are the alerts on what etcdboot adds: the agent's metrics
// (AgentMetrics) and etcd's learner flag, which the agent is meant to clear.
func etcdbootRules(etcd, agent string, opts RuleOptions) []alertRule {
	r := func(tmpl string) string {
		return expr(tmpl, "ETCD", etcd, "AGENT", agent, "INSTANCE", instanceLabels,
			"CERT_WARN", seconds(opts.CertExpiryWarning), "BACKUP_AGE", seconds(opts.BackupMaxAge),
			"PHASE_READY", strconv.Quote(PhaseReady))
	}
	warning := map[string]string{"severity": "warning"}
	return []alertRule{
		{
			Alert: "etcdbootCertificateExpiringSoon",
			// The group's issuer has an alert of its own, with its own cure.
			Expr:   r(MetricCertExpiry + `{AGENT, cert!="issuer"} - time() < CERT_WARN`),
			For:    "10m",
			Labels: warning,
			Annotations: map[string]string{
				"summary":     "etcd member certificate expires within " + humanDuration(opts.CertExpiryWarning) + ".",
				"description": `etcd cluster "{{ $labels.cluster }}": the {{ $labels.cert }} certificate of {{ $labels.instance }} expires in {{ $value | humanizeDuration }}; run ` + "`etcdboot certs rotate`" + ` and redeliver the node payloads.`,
			},
		},
		{
			// A third, as members renew their own certificates: from then on
			// each renewal ends when the issuer does.
			Alert: "etcdbootIssuerExpiringSoon",
			Expr: r(`
(` + MetricIssuerNotAfter + `{AGENT} - time())
<
(` + MetricIssuerNotAfter + `{AGENT} - ` + MetricIssuerNotBefore + `{AGENT}) / 3`),
			For:    "10m",
			Labels: warning,
			Annotations: map[string]string{
				"summary":     "etcd group's member issuer has less than a third of its life left.",
				"description": `etcd cluster "{{ $labels.cluster }}": the intermediate that {{ $labels.instance }} mints its certificates with expires in {{ $value | humanizeDuration }}; once it has, members cannot renew theirs. Run ` + "`etcdboot certs rotate --issuer -f cluster.yaml -o out/`" + ` (it publishes a new one to the group) and put out/nodes/launch in the launch template.`,
			},
		},
		{
			// A member that refuses what a rotation published keeps what it
			// has, and the rotation's next phase finds it behind.
			Alert: "etcdbootPublishedTrustRefused",
			Expr: r(`
increase(` + MetricIssuerRenewals + `{AGENT, result="refused"}[1h]) > 0
or
increase(` + MetricCABundles + `{AGENT, result="refused"}[1h]) > 0`),
			Labels: warning,
			Annotations: map[string]string{
				"summary":     "etcd member refused an issuer or CA bundle published to its group.",
				"description": `etcd cluster "{{ $labels.cluster }}": the agent on {{ $labels.instance }} refused an issuer or a CA bundle that ` + "`etcdboot certs rotate`" + ` published to the group, and kept its own (an issuer of another root, with other name constraints or not valid now; a bundle that shares no certificate with its CA file). Its log says why (journalctl -u etcdboot-agent); publish a correct one by running the rotation again.`,
			},
		},
		{
			Alert:  "etcdbootBackupTooOld",
			Expr:   r(`time() - max without (INSTANCE) (` + MetricBackupLastSuccess + `{AGENT}) > BACKUP_AGE`),
			For:    "15m",
			Labels: warning,
			Annotations: map[string]string{
				"summary":     "etcd cluster has no good backup newer than " + humanDuration(opts.BackupMaxAge) + ".",
				"description": `etcd cluster "{{ $labels.cluster }}": the newest good backup is {{ $value | humanizeDuration }} old; check ` + MetricBackups + `{result="failed"}, ` + MetricBackupUploads + `{result="failed"} (a round whose upload to backup.target fails is not a good backup) and the agents' logs.`,
			},
		},
		{
			Alert:  "etcdbootLearnerNotPromoted",
			Expr:   r(`etcd_server_is_learner{ETCD} == 1`),
			For:    promDuration(opts.LearnerStuckFor),
			Labels: warning,
			Annotations: map[string]string{
				"summary":     "etcd member stays a learner.",
				"description": `etcd cluster "{{ $labels.cluster }}": member {{ $labels.instance }} has been a learner for more than ` + humanDuration(opts.LearnerStuckFor) + `; the agent promotes a learner once it has caught up, see its log (journalctl -u etcdboot-agent).`,
			},
		},
		{
			Alert:  "etcdbootAgentNotReady",
			Expr:   r(MetricAgentPhase + `{AGENT, phase!=PHASE_READY} == 1`),
			For:    promDuration(opts.AgentNotReadyFor),
			Labels: warning,
			Annotations: map[string]string{
				"summary":     "etcdboot agent has not brought its member up.",
				"description": `etcd cluster "{{ $labels.cluster }}": the agent on {{ $labels.instance }} has been in phase {{ $labels.phase }} for more than ` + humanDuration(opts.AgentNotReadyFor) + `; see its log (journalctl -u etcdboot-agent).`,
			},
		},
		{
			Alert:  "etcdbootSpaceAlarm",
			Expr:   r(`max without (INSTANCE) (` + MetricEtcdAlarm + `{AGENT, alarm="` + AlarmNoSpace + `"}) == 1`),
			For:    "1m",
			Labels: map[string]string{"severity": "critical"},
			Annotations: map[string]string{
				"summary":     "etcd cluster refuses writes: NOSPACE is raised.",
				"description": `etcd cluster "{{ $labels.cluster }}": the backend quota is full and etcd refuses every write. With a maintenance section the agents compact, defragment and disarm it (see ` + MetricMaintenanceRounds + `{kind="heal"} and the agents' logs); while it stands the data itself fills the quota: delete keys or raise etcd.quotaBackendBytes, then etcdctl alarm disarm.`,
			},
		},
		{
			Alert:  "etcdbootAgentDown",
			Expr:   r(`up{AGENT} == 0`),
			For:    "10m",
			Labels: warning,
			Annotations: map[string]string{
				"summary":     "etcdboot agent metrics cannot be scraped.",
				"description": `etcd cluster "{{ $labels.cluster }}": the agent on {{ $labels.instance }} cannot be scraped, so certificate, backup and phase alerts are blind for it.`,
			},
		},
	}
}
