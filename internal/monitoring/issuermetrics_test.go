package monitoring

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestIssuerMetricsExposeValidityAndRenewals(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	NewAgentMetrics(reg) // all on the agent's one registry
	NewMaintenanceMetrics(reg)
	m := NewIssuerMetrics(reg)
	if n, err := testutil.GatherAndCount(reg, MetricIssuerNotAfter, MetricIssuerRenewals, MetricCABundles); err != nil || n != 0 {
		t.Errorf("%d issuer series before any issuer (%v): a static member has none", n, err)
	}
	m.SetValidity(time.Unix(1000, 0), time.Unix(4000, 0))
	m.RenewalChecked(PublishedRefused)
	m.RenewalChecked(PublishedRefused)
	m.RenewalChecked(PublishedInstalled)
	m.CABundleChecked(PublishedInstalled)
	m.SetValidity(time.Unix(3000, 0), time.Unix(9000, 0))
	want := `
# HELP etcdboot_ca_bundles_total CA bundles a CA rotation published to the group that this agent checked, by result (installed in its CA file, or refused and the file kept).
# TYPE etcdboot_ca_bundles_total counter
etcdboot_ca_bundles_total{result="installed"} 1
etcdboot_ca_bundles_total{result="refused"} 0
# HELP etcdboot_issuer_not_after_timestamp_seconds Unix time at which the member-issuing intermediate this agent mints with expires (its NotAfter).
# TYPE etcdboot_issuer_not_after_timestamp_seconds gauge
etcdboot_issuer_not_after_timestamp_seconds 9000
# HELP etcdboot_issuer_not_before_timestamp_seconds Unix time from which the member-issuing intermediate this agent mints with is valid (its NotBefore).
# TYPE etcdboot_issuer_not_before_timestamp_seconds gauge
etcdboot_issuer_not_before_timestamp_seconds 3000
# HELP etcdboot_issuer_renewals_total Renewed issuers published to the group that this agent checked, by result (installed, or refused and the old one kept).
# TYPE etcdboot_issuer_renewals_total counter
etcdboot_issuer_renewals_total{result="installed"} 1
etcdboot_issuer_renewals_total{result="refused"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricIssuerNotBefore, MetricIssuerNotAfter, MetricIssuerRenewals, MetricCABundles); err != nil {
		t.Error(err)
	}
}
