package bootstrap

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/etcdboot/etcdboot/bootstrap/firewall"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/spec"
)

func firewallPayload() *spec.NodePayload {
	p := &spec.NodePayload{
		Etcd: spec.Etcd{ClientPort: 2379, PeerPort: 2380, MetricsPort: 2381},
		Firewall: spec.Firewall{
			ClientCIDRs:     []string{"10.0.0.0/24"},
			MonitoringCIDRs: []string{"10.9.0.0/24", "fd00:9::/64"},
		},
	}
	p.Members = []spec.Member{{Name: "etcd1", IPs: []string{"10.0.0.11"}}, {Name: "etcd2", IPs: []string{"10.0.0.12"}}}
	return p
}

func TestFirewallPolicyLetsMonitoringReachTheAgentMetrics(t *testing.T) {
	p := firewallPayload()
	pol, err := FirewallPolicy(p, p.Members)
	if err != nil {
		t.Fatal(err)
	}
	if pol.AgentMetricsPort != monitoring.DefaultAgentMetricsPort {
		t.Errorf("AgentMetricsPort = %d, want %d (where the agent serves /metrics)", pol.AgentMetricsPort, monitoring.DefaultAgentMetricsPort)
	}
	wantMon := []netip.Prefix{netip.MustParsePrefix("10.9.0.0/24"), netip.MustParsePrefix("fd00:9::/64")}
	if !slices.Equal(pol.MonitoringCIDRs, wantMon) {
		t.Errorf("MonitoringCIDRs = %v, want %v", pol.MonitoringCIDRs, wantMon)
	}
	text := pol.NFT()
	for _, want := range []string{
		"tcp dport 2382 iifname \"lo\" accept",
		"tcp dport 2382 ip saddr @monitoring4 accept",
		"tcp dport 2382 ip6 saddr @monitoring6 accept",
		"tcp dport 2382 drop",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("policy lacks %q:\n%s", want, text)
		}
	}
	// Peers and clients are not monitoring: no peer or client rule on 2382.
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "dport 2382") && (strings.Contains(line, "@peers") || strings.Contains(line, "@clients")) {
			t.Errorf("agent metrics port opened to peers or clients: %s", strings.TrimSpace(line))
		}
	}
}

func TestFirewallPolicyRefusesEtcdMetricsOnTheAgentPort(t *testing.T) {
	p := firewallPayload()
	p.Etcd.MetricsPort = int(monitoring.DefaultAgentMetricsPort)
	_, err := FirewallPolicy(p, p.Members)
	if err == nil || !strings.Contains(err.Error(), "MetricsPort and AgentMetricsPort are both 2382") {
		t.Errorf("FirewallPolicy with etcd.metricsPort 2382: err = %v, want a port clash", err)
	}
	if firewall.DefaultAgentMetricsPort != monitoring.DefaultAgentMetricsPort {
		t.Errorf("firewall.DefaultAgentMetricsPort %d != monitoring.DefaultAgentMetricsPort %d", firewall.DefaultAgentMetricsPort, monitoring.DefaultAgentMetricsPort)
	}
}

func TestFirewallPolicyKeepsTheMetadataServiceRootOnly(t *testing.T) {
	off := false
	for _, tc := range []struct {
		name   string
		access *spec.MetadataAccess
		want   []netip.Addr
	}{
		{"default", nil, []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")}},
		{"own list", &spec.MetadataAccess{Addresses: []string{"169.254.170.2"}}, []netip.Addr{netip.MustParseAddr("169.254.170.2")}},
		{"off", &spec.MetadataAccess{RootOnly: &off}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := firewallPayload()
			p.Firewall.MetadataAccess = tc.access
			pol, err := FirewallPolicy(p, p.Members)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pol.MetadataAddrs, tc.want) {
				t.Errorf("MetadataAddrs = %v, want %v", pol.MetadataAddrs, tc.want)
			}
		})
	}
}
