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
	// 100.100.100.200 is Alibaba Cloud's metadata service.
	p.MetadataAddrs = addrs("fd00:ec2::254", "169.254.169.254", "100.100.100.200", "169.254.169.254")
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
		{"zero metadata address", func(p *Policy) { p.MetadataAddrs = []netip.Addr{{}} }, "MetadataAddrs[0]: empty or invalid address"},
		{"metadata address with zone", func(p *Policy) { p.MetadataAddrs = addrs("169.254.169.254", "fe80::a9fe:a9fe%eth0") }, "MetadataAddrs[1]: fe80::a9fe:a9fe%eth0 has a zone"},
		{"IPv4-mapped metadata address", func(p *Policy) { p.MetadataAddrs = addrs("::ffff:169.254.169.254") }, "MetadataAddrs[0]: ::ffff:169.254.169.254 is an IPv4-mapped IPv6 address; write it as 169.254.169.254"},
		{"unspecified metadata address", func(p *Policy) { p.MetadataAddrs = addrs("::") }, "MetadataAddrs[0]: :: cannot be a metadata address"},
		{"loopback metadata address", func(p *Policy) { p.MetadataAddrs = addrs("127.0.0.1") }, "MetadataAddrs[0]: 127.0.0.1 cannot be a metadata address"},
		{"multicast metadata address", func(p *Policy) { p.MetadataAddrs = addrs("ff02::1") }, "MetadataAddrs[0]: ff02::1 cannot be a metadata address"},
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
	want.MetadataAddrs = addrs("100.100.100.200", "169.254.169.254", "fd00:ec2::254")
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
	other = representativePolicy()
	other.MetadataAddrs = nil
	if other.Equal(representativePolicy()) {
		t.Error("policies with different metadata addresses are Equal")
	}
	if (Policy{MetadataAddrs: []netip.Addr{}}).Equal(Policy{}) != true {
		t.Error("an empty and a nil MetadataAddrs are not Equal")
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

func TestHoldPeersResetsTheOtherMembersOnThePeerPortFirst(t *testing.T) {
	open, held := DefaultPolicy(), DefaultPolicy()
	held.HoldPeers = true
	var got []string
	for _, r := range held.rules() {
		got = append(got, r.nft())
	}
	want := []string{
		`tcp dport 2380 iifname != "lo" ip saddr @peers4 reject with tcp reset`,
		`tcp dport 2380 iifname != "lo" ip6 saddr @peers6 reject with tcp reset`,
	}
	for _, r := range open.rules() {
		want = append(want, r.nft())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("held rules\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if open.Equal(held) {
		t.Error("a held policy equals the open one, so Apply would not lift the hold")
	}
}

func TestDefaultPolicyMakesMetadataRootsOnly(t *testing.T) {
	p := DefaultPolicy()
	if want := addrs("169.254.169.254", "fd00:ec2::254"); !reflect.DeepEqual(p.MetadataAddrs, want) {
		t.Errorf("DefaultPolicy().MetadataAddrs = %v, want %v", p.MetadataAddrs, want)
	}
	// DefaultPolicy hands out a copy: changing it must not change the next.
	p.MetadataAddrs[0] = netip.MustParseAddr("100.100.100.200")
	if got := DefaultPolicy().MetadataAddrs[0]; got != netip.MustParseAddr("169.254.169.254") {
		t.Errorf("DefaultPolicy shares DefaultMetadataAddrs: got %s", got)
	}
}

func TestMetadataRules(t *testing.T) {
	tests := []struct {
		name  string
		addrs []netip.Addr
		want  []string
	}{
		{"default", DefaultMetadataAddrs, []string{
			"ip daddr 169.254.169.254 meta skuid != 0 reject with icmpx admin-prohibited",
			"ip6 daddr fd00:ec2::254 meta skuid != 0 reject with icmpx admin-prohibited",
		}},
		{"none", nil, nil},
		{"empty", []netip.Addr{}, nil},
		{"unsorted with duplicates, IPv4 first", addrs("fd00:ec2::254", "169.254.169.254", "100.100.100.200", "fd00:ec2::254"), []string{
			"ip daddr 100.100.100.200 meta skuid != 0 reject with icmpx admin-prohibited",
			"ip daddr 169.254.169.254 meta skuid != 0 reject with icmpx admin-prohibited",
			"ip6 daddr fd00:ec2::254 meta skuid != 0 reject with icmpx admin-prohibited",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range (Policy{MetadataAddrs: tt.addrs}).metadataRules() {
				got = append(got, r.nft())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("metadataRules =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestMetadataRulesLeaveInputChainAlone: the output chain is added beside
// the input chain, whose rules do not depend on the metadata addresses.
func TestMetadataRulesLeaveInputChainAlone(t *testing.T) {
	with, without := DefaultPolicy(), DefaultPolicy()
	without.MetadataAddrs = nil
	if !reflect.DeepEqual(with.rules(), without.rules()) {
		t.Error("the input chain's rules depend on MetadataAddrs")
	}
}
