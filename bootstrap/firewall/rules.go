package firewall

import "net/netip"

// The base chains of the table: input always, output only for a policy with
// metadata addresses.
const (
	chainName       = "input"
	outputChainName = "output"
)

// setDef describes one named set of the table.
type setDef struct {
	name     string
	ipv6     bool
	interval bool // CIDR sets; peer sets hold single addresses
}

// The six sets of the table, in the order they are declared.
var (
	setPeers4      = setDef{name: "peers4"}
	setPeers6      = setDef{name: "peers6", ipv6: true}
	setClients4    = setDef{name: "clients4", interval: true}
	setClients6    = setDef{name: "clients6", ipv6: true, interval: true}
	setMonitoring4 = setDef{name: "monitoring4", interval: true}
	setMonitoring6 = setDef{name: "monitoring6", ipv6: true, interval: true}

	allSets = []setDef{setPeers4, setPeers6, setClients4, setClients6, setMonitoring4, setMonitoring6}
)

// nftType is the set's key type as nft spells it.
func (s setDef) nftType() string {
	if s.ipv6 {
		return "ipv6_addr"
	}
	return "ipv4_addr"
}

// source says which packets a rule matches besides protocol and port.
type source int

const (
	fromAnywhere       source = iota // the port's final drop
	fromLoopback                     // iifname "lo"
	fromSet                          // ip saddr @set / ip6 saddr @set
	fromSetNotLoopback               // iifname != "lo" ip saddr @set: the node's own traffic to its address comes over lo
)

// verdict is what a rule does with the packets it matches.
type verdict int

const (
	verdictDrop   verdict = iota
	verdictAccept         // the allowed sources
	verdictReset          // the other members, on the peer port, while Policy.HoldPeers
)

// rule is one rule of the input chain, as data. Every rule matches TCP to one
// port; there is deliberately no conntrack match: a stateful drop added while
// etcd runs stalls existing peer connections, plain saddr matching does not.
type rule struct {
	port    uint16
	source  source
	set     setDef // when source == fromSet
	verdict verdict
}

// rules returns the input chain of p in order: per port, the accepts, then a
// drop for everything else on that port; with HoldPeers, resets of the
// other members come first on the peer port.
func (p Policy) rules() []rule {
	var rs []rule
	port := func(port uint16, loopback bool, sets ...setDef) {
		if loopback {
			rs = append(rs, rule{port: port, source: fromLoopback, verdict: verdictAccept})
		}
		for _, s := range sets {
			rs = append(rs, rule{port: port, source: fromSet, set: s, verdict: verdictAccept})
		}
		rs = append(rs, rule{port: port, source: fromAnywhere, verdict: verdictDrop})
	}
	if p.HoldPeers {
		// The node itself still reaches its peer port, to see when etcd
		// serves it.
		for _, s := range []setDef{setPeers4, setPeers6} {
			rs = append(rs, rule{port: p.PeerPort, source: fromSetNotLoopback, set: s, verdict: verdictReset})
		}
	}
	// Members talk to each other on their real addresses, never over
	// loopback: the peer port gets no loopback exception.
	port(p.PeerPort, false, setPeers4, setPeers6)
	port(p.ClientPort, true, setPeers4, setPeers6, setClients4, setClients6)
	port(p.MetricsPort, true, setMonitoring4, setMonitoring6)
	// The agent's metrics are scraped by the same Prometheus as etcd's.
	port(p.AgentMetricsPort, true, setMonitoring4, setMonitoring6)
	return rs
}

// addrs returns the single addresses of a peer set (nil for CIDR sets).
func (p Policy) addrs(s setDef) []netip.Addr {
	if s.interval {
		return nil
	}
	var out []netip.Addr
	for _, a := range canonicalAddrs(p.Peers) {
		if a.Is6() == s.ipv6 {
			out = append(out, a)
		}
	}
	return out
}

// prefixes returns the CIDRs of an interval set (nil for peer sets).
func (p Policy) prefixes(s setDef) []netip.Prefix {
	var in []netip.Prefix
	switch s {
	case setClients4, setClients6:
		in = p.ClientCIDRs
	case setMonitoring4, setMonitoring6:
		in = p.MonitoringCIDRs
	default:
		return nil
	}
	var out []netip.Prefix
	for _, pfx := range canonicalPrefixes(in) {
		if pfx.Addr().Is6() == s.ipv6 {
			out = append(out, pfx)
		}
	}
	return out
}

// metadataRule is one rule of the output chain, as data: packets to addr from
// a socket whose owner is not uid 0 are rejected.
//
// Reject rather than drop: the sender is a local process, so there is nothing
// to hide from it, and a drop would make every cloud SDK's credential chain
// and tool that probes the metadata service hang until its timeout, where an
// ICMP "administratively prohibited" fails its connect at once (EHOSTUNREACH
// for IPv4, EACCES for IPv6). AWS's own guide to limiting IMDS access rejects
// too. "meta skuid" does not match a packet without a full local socket, so
// forwarded packets (which never pass the output hook) and the kernel's own
// (TCP resets, ICMP errors) go through.
type metadataRule struct {
	addr netip.Addr
}

// metadataRules returns the output chain of p in order: one rule per
// metadata address, IPv4 first. None means the table has no output chain.
func (p Policy) metadataRules() []metadataRule {
	var rs []metadataRule
	for _, a := range canonicalAddrs(p.MetadataAddrs) {
		rs = append(rs, metadataRule{addr: a})
	}
	return rs
}
