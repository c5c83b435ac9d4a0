package monitoring

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of the metrics of an autoscaling group's member-issuing
// intermediate; etcdbootIssuerExpiringSoon alerts on the first two.
const (
	MetricIssuerNotBefore = "etcdboot_issuer_not_before_timestamp_seconds"
	MetricIssuerNotAfter  = "etcdboot_issuer_not_after_timestamp_seconds"
	MetricIssuerRenewals  = "etcdboot_issuer_renewals_total"
	// MetricCABundles counts the CA bundles a group's CA rotation published
	// that the agent checked; etcdbootPublishedTrustRefused alerts on
	// refusals of either.
	MetricCABundles = "etcdboot_ca_bundles_total"
)

// Values of the result label of MetricIssuerRenewals and MetricCABundles:
// what the agent did with what was published to the group.
const (
	PublishedInstalled = "installed"
	PublishedRefused   = "refused"
)

// IssuerMetrics are the collectors of the issuer a group's member mints its
// certificates with: its validity, so an alert can tell when less than a
// third of its life is left, and the renewed issuers the watcher installed
// or refused. Its methods are safe for concurrent use.
type IssuerMetrics struct {
	// notBefore and notAfter have no labels but are vectors so that an
	// agent without an issuer (a static member) exports neither.
	notBefore, notAfter *prometheus.GaugeVec
	renewals            *prometheus.CounterVec
	caBundles           *prometheus.CounterVec
}

// NewIssuerMetrics creates the issuer's collectors and registers them with
// reg, beside NewAgentMetrics' on the agent's registry.
func NewIssuerMetrics(reg prometheus.Registerer) *IssuerMetrics {
	c := collectors{reg}
	return &IssuerMetrics{
		notBefore: c.gaugeVec(MetricIssuerNotBefore, "Unix time from which the member-issuing intermediate this agent mints with is valid (its NotBefore)."),
		notAfter:  c.gaugeVec(MetricIssuerNotAfter, "Unix time at which the member-issuing intermediate this agent mints with expires (its NotAfter)."),
		renewals:  c.counterVec(MetricIssuerRenewals, "Renewed issuers published to the group that this agent checked, by result (installed, or refused and the old one kept).", "result"),
		caBundles: c.counterVec(MetricCABundles, "CA bundles a CA rotation published to the group that this agent checked, by result (installed in its CA file, or refused and the file kept).", "result"),
	}
}

// SetValidity records the validity of the issuer in use.
func (m *IssuerMetrics) SetValidity(notBefore, notAfter time.Time) {
	// Both results appear with the first issuer, so rate() sees the first
	// refusal; an agent without an issuer exports none.
	for _, result := range []string{PublishedInstalled, PublishedRefused} {
		m.renewals.WithLabelValues(result)
		m.caBundles.WithLabelValues(result)
	}
	m.notBefore.WithLabelValues().Set(unixSeconds(notBefore))
	m.notAfter.WithLabelValues().Set(unixSeconds(notAfter))
}

// RenewalChecked counts a published issuer checked with result.
func (m *IssuerMetrics) RenewalChecked(result string) {
	m.renewals.WithLabelValues(result).Inc()
}

// CABundleChecked counts a published CA bundle checked with result.
func (m *IssuerMetrics) CABundleChecked(result string) {
	m.caBundles.WithLabelValues(result).Inc()
}
