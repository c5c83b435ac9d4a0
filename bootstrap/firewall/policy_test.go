package firewall

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// representativePolicy mixes families, duplicates, unsorted input and
// covered prefixes, as a member set and operator CIDRs may.
func representativePolicy() Policy {
	p := DefaultPolicy()
	p.Peers = addrs("10.123.250.3", "10.123.250.1", "fd00:123:250::1", "10.123.250.2", "10.123.250.1")
	p.ClientCIDRs = prefixes("10.123.0.0/24", "fd00::/8", "10.0.0.5/32", "10.123.0.128/25")
	p.MonitoringCIDRs = prefixes("192.168.2.0/24", "0.0.0.0/0", "2001:db8:1::/48")
	return p
}

func TestValidateAcceptsDefaultAndRepresentativePolicies(t *testing.T) {
	for name, p := range map[string]Policy{"default": DefaultPolicy(), "representative": representativePolicy()} {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v, want nil", name, err)
		}
	}
	p := DefaultPolicy()
	p.Table = "" // means DefaultTable
	if err := p.Validate(); err != nil {
		t.Errorf("empty table: Validate() = %v, want nil", err)
	}
}

func TestValidateReportsProblem(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Policy)
		want   string
	}{
		{"zero client port", func(p *Policy) { p.ClientPort = 0 }, "ClientPort is 0"},
		{"zero peer port", func(p *Policy) { p.PeerPort = 0 }, "PeerPort is 0"},
		{"zero metrics port", func(p *Policy) { p.MetricsPort = 0 }, "MetricsPort is 0"},
		{"duplicate client and peer port", func(p *Policy) { p.PeerPort = p.ClientPort }, "ClientPort and PeerPort are both 2379"},
		{"duplicate peer and metrics port", func(p *Policy) { p.MetricsPort = p.PeerPort }, "PeerPort and MetricsPort are both 2380"},
		{"zero agent metrics port", func(p *Policy) { p.AgentMetricsPort = 0 }, "AgentMetricsPort is 0"},
		{"agent metrics port on etcd's metrics port", func(p *Policy) { p.AgentMetricsPort = p.MetricsPort }, "MetricsPort and AgentMetricsPort are both 2381"},
		{"bad table name", func(p *Policy) { p.Table = "etcd boot;" }, `Table "etcd boot;" is not a valid name`},
		{"table name starting with digit", func(p *Policy) { p.Table = "9etcd" }, `Table "9etcd"`},
		{"zero peer address", func(p *Policy) { p.Peers = []netip.Addr{{}} }, "Peers[0]: empty or invalid address"},
		{"peer with zone", func(p *Policy) { p.Peers = addrs("10.0.0.1", "fe80::1%eth0") }, "Peers[1]: fe80::1%eth0 has a zone"},
		{"IPv4-mapped peer", func(p *Policy) { p.Peers = addrs("::ffff:10.0.0.1") }, "write it as 10.0.0.1"},
		{"unspecified peer", func(p *Policy) { p.Peers = addrs("0.0.0.0") }, "Peers[0]: 0.0.0.0 is the unspecified address"},
		{"zero client CIDR", func(p *Policy) { p.ClientCIDRs = []netip.Prefix{{}} }, "ClientCIDRs[0]: empty or invalid prefix"},
		{"client CIDR with host bits", func(p *Policy) { p.ClientCIDRs = prefixes("10.123.0.5/24") }, "ClientCIDRs[0]: 10.123.0.5/24 has host bits set; did you mean 10.123.0.0/24?"},
		{"monitoring CIDR with host bits", func(p *Policy) { p.MonitoringCIDRs = prefixes("fd00::1/8") }, "MonitoringCIDRs[0]: fd00::1/8 has host bits set"},
		{"IPv4-mapped CIDR", func(p *Policy) { p.MonitoringCIDRs = prefixes("::ffff:10.0.0.0/104") }, "IPv4-mapped IPv6 prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPolicy()
			tt.mutate(&p)
			err := p.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("Validate() = %v, does not wrap ErrInvalidPolicy", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	p := Policy{Peers: addrs("0.0.0.0"), ClientCIDRs: prefixes("10.0.0.1/8")}
	err := p.Validate()
	if err == nil {
		t.Fatal("Validate() = nil")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 6 { // four zero ports, one peer, one CIDR
		t.Errorf("Validate() reported %d problems, want 6:\n%v", len(lines), err)
	}
}

func TestCanonicalSortsDeduplicatesAndDropsCoveredPrefixes(t *testing.T) {
	got := representativePolicy().Canonical()
	want := DefaultPolicy()
	want.Peers = addrs("10.123.250.1", "10.123.250.2", "10.123.250.3", "fd00:123:250::1")
	want.ClientCIDRs = prefixes("10.0.0.5/32", "10.123.0.0/24", "fd00::/8")
	want.MonitoringCIDRs = prefixes("0.0.0.0/0", "2001:db8:1::/48")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Canonical() =\n%+v\nwant\n%+v", got, want)
	}
	if !got.Equal(representativePolicy()) {
		t.Error("a policy is not Equal to its canonical form")
	}
	other := representativePolicy()
	other.Peers = other.Peers[1:]
	if other.Equal(representativePolicy()) {
		t.Error("policies with different peers are Equal")
	}
}

func TestCanonicalKeepsAdjacentPrefixesAndFillsTable(t *testing.T) {
	p := Policy{ClientCIDRs: prefixes("10.123.1.0/24", "10.123.0.0/24", "10.123.0.0/24")}
	got := p.Canonical()
	if got.Table != DefaultTable {
		t.Errorf("Table = %q, want %q", got.Table, DefaultTable)
	}
	if want := prefixes("10.123.0.0/24", "10.123.1.0/24"); !reflect.DeepEqual(got.ClientCIDRs, want) {
		t.Errorf("ClientCIDRs = %v, want %v", got.ClientCIDRs, want)
	}
}

func TestRulesPerPort(t *testing.T) {
	var got []string
	for _, r := range DefaultPolicy().rules() {
		got = append(got, r.nft())
	}
	want := []string{
		"tcp dport 2380 ip saddr @peers4 accept",
		"tcp dport 2380 ip6 saddr @peers6 accept",
		"tcp dport 2380 drop",
		`tcp dport 2379 iifname "lo" accept`,
		"tcp dport 2379 ip saddr @peers4 accept",
		"tcp dport 2379 ip6 saddr @peers6 accept",
		"tcp dport 2379 ip saddr @clients4 accept",
		"tcp dport 2379 ip6 saddr @clients6 accept",
		"tcp dport 2379 drop",
		`tcp dport 2381 iifname "lo" accept`,
		"tcp dport 2381 ip saddr @monitoring4 accept",
		"tcp dport 2381 ip6 saddr @monitoring6 accept",
		"tcp dport 2381 drop",
		`tcp dport 2382 iifname "lo" accept`,
		"tcp dport 2382 ip saddr @monitoring4 accept",
		"tcp dport 2382 ip6 saddr @monitoring6 accept",
		"tcp dport 2382 drop",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rules =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
