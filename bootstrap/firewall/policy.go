package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
)

// DefaultTable is the name of the inet table etcdboot owns.
const DefaultTable = "etcdboot"

// Default etcd ports, and the port etcdboot-agent serves its own metrics on.
const (
	DefaultClientPort       uint16 = 2379
	DefaultPeerPort         uint16 = 2380
	DefaultMetricsPort      uint16 = 2381
	DefaultAgentMetricsPort uint16 = 2382
)

// ErrInvalidPolicy is wrapped by every problem Validate reports.
var ErrInvalidPolicy = errors.New("invalid firewall policy")

// DefaultMetadataAddrs are the cloud instance metadata service's addresses:
// 169.254.169.254 (AWS, GCP, Azure, OpenStack and most others) and
// fd00:ec2::254 (AWS's IPv6 endpoint).
var DefaultMetadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
}

// Policy is the node's etcd firewall as data: who may reach which etcd port,
// and who may reach the metadata service. Only TCP to the four ports and
// locally sent packets to the metadata addresses are filtered; the rest of
// the host is untouched.
type Policy struct {
	// Table is the name of the inet table; "" means DefaultTable.
	Table string
	// ClientPort, PeerPort and MetricsPort are etcd's TCP ports.
	ClientPort, PeerPort, MetricsPort uint16
	// AgentMetricsPort is where etcdboot-agent serves its own metrics; it is
	// filtered like MetricsPort.
	AgentMetricsPort uint16
	// Peers is the member set: the only sources allowed to reach PeerPort,
	// also allowed to reach ClientPort. IPv4 and IPv6 may be mixed.
	Peers []netip.Addr
	// ClientCIDRs may reach ClientPort.
	ClientCIDRs []netip.Prefix
	// MonitoringCIDRs may reach MetricsPort and AgentMetricsPort.
	MonitoringCIDRs []netip.Prefix
	// MetadataAddrs are the cloud instance metadata service's addresses
	// (see DefaultMetadataAddrs): only sockets of uid 0 may send to them, so
	// etcd and every other local user cannot read the node's user data,
	// which holds its keys. Packets without a local socket (forwarded, or
	// sent by the kernel itself) are not affected. Empty means no output
	// chain: the metadata service stays open to every local user.
	MetadataAddrs []netip.Addr
	// HoldPeers answers the members' connections to PeerPort with a TCP
	// reset instead of accepting them. A new member's etcd listens on the
	// peer port before it serves it: a peer that asks it for the member list
	// while bootstrapping itself waits out etcd's 1 s bootstrap timeout,
	// where a reset fails the ask at once. The agent holds its peers only
	// from before it starts a new member's etcd until that etcd serves the
	// peer port.
	HoldPeers bool
}

// DefaultPolicy returns a Policy with the default table and ports, no
// sources allowed besides loopback, and the metadata service root's.
func DefaultPolicy() Policy {
	return Policy{
		Table:            DefaultTable,
		ClientPort:       DefaultClientPort,
		PeerPort:         DefaultPeerPort,
		MetricsPort:      DefaultMetricsPort,
		AgentMetricsPort: DefaultAgentMetricsPort,
		MetadataAddrs:    slices.Clone(DefaultMetadataAddrs),
	}
}

// tableNameRE is stricter than nft's identifier grammar on purpose: the name
// is spliced unquoted into nft text and shown in operators' listings.
var tableNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// Validate reports every problem with p, each wrapping ErrInvalidPolicy,
// joined with errors.Join; nil means Apply will accept p.
func (p Policy) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidPolicy}, args...)...))
	}
	if p.Table != "" {
		if err := validateTable(p.Table); err != nil {
			errs = append(errs, err)
		}
	}
	ports := []struct {
		field string
		port  uint16
	}{{"ClientPort", p.ClientPort}, {"PeerPort", p.PeerPort}, {"MetricsPort", p.MetricsPort}, {"AgentMetricsPort", p.AgentMetricsPort}}
	for i, a := range ports {
		if a.port == 0 {
			bad("%s is 0; set it to the port in use (DefaultPolicy has %d/%d/%d/%d)", a.field, DefaultClientPort, DefaultPeerPort, DefaultMetricsPort, DefaultAgentMetricsPort)
			continue
		}
		for _, b := range ports[:i] {
			if a.port == b.port {
				bad("%s and %s are both %d; each port needs its own rules, give them distinct ports", b.field, a.field, a.port)
			}
		}
	}
	for i, a := range p.Peers {
		if err := validatePeer(a); err != nil {
			bad("Peers[%d]: %v", i, err)
		}
	}
	for i, a := range p.MetadataAddrs {
		if err := validateMetadataAddr(a); err != nil {
			bad("MetadataAddrs[%d]: %v", i, err)
		}
	}
	for _, f := range []struct {
		field    string
		prefixes []netip.Prefix
	}{{"ClientCIDRs", p.ClientCIDRs}, {"MonitoringCIDRs", p.MonitoringCIDRs}} {
		for i, pfx := range f.prefixes {
			if err := validatePrefix(pfx); err != nil {
				bad("%s[%d]: %v", f.field, i, err)
			}
		}
	}
	return errors.Join(errs...)
}

func validateTable(name string) error {
	if !tableNameRE.MatchString(name) {
		return fmt.Errorf("%w: Table %q is not a valid name; use a letter followed by up to 63 letters, digits, '_' or '-'", ErrInvalidPolicy, name)
	}
	return nil
}

func validatePeer(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New("empty or invalid address; give the member's IPv4 or IPv6 address")
	case a.Zone() != "":
		return fmt.Errorf("%s has a zone; packets carry no zone, drop %q", a, "%"+a.Zone())
	case a.Is4In6():
		return fmt.Errorf("%s is an IPv4-mapped IPv6 address; write it as %s", a, a.Unmap())
	case a.IsUnspecified():
		return fmt.Errorf("%s is the unspecified address, not a member; give the member's real address", a)
	}
	return nil
}

func validateMetadataAddr(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New("empty or invalid address; give the metadata service's IPv4 or IPv6 address, e.g. 169.254.169.254")
	case a.Zone() != "":
		return fmt.Errorf("%s has a zone; packets carry no zone, drop %q", a, "%"+a.Zone())
	case a.Is4In6():
		return fmt.Errorf("%s is an IPv4-mapped IPv6 address; write it as %s (sockets sending to it are matched as IPv4)", a, a.Unmap())
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast():
		return fmt.Errorf("%s cannot be a metadata address: only root could use it; give the metadata service's unicast address, e.g. 169.254.169.254", a)
	}
	return nil
}

func validatePrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errors.New("empty or invalid prefix; write a CIDR such as 10.0.0.0/24")
	case p.Addr().Is4In6():
		return fmt.Errorf("%s is an IPv4-mapped IPv6 prefix; write it as an IPv4 CIDR", p)
	case p.Masked() != p:
		return fmt.Errorf("%s has host bits set; did you mean %s?", p, p.Masked())
	}
	return nil
}

// Canonical returns p with the default table filled in, peers and metadata
// addresses sorted and de-duplicated, and CIDRs sorted with duplicates and prefixes covered by
// another one dropped. Two policies with the same Canonical form produce the
// same ruleset; Current returns policies in this form.
func (p Policy) Canonical() Policy {
	q := p
	if q.Table == "" {
		q.Table = DefaultTable
	}
	q.Peers = canonicalAddrs(p.Peers)
	q.ClientCIDRs = canonicalPrefixes(p.ClientCIDRs)
	q.MonitoringCIDRs = canonicalPrefixes(p.MonitoringCIDRs)
	q.MetadataAddrs = canonicalAddrs(p.MetadataAddrs)
	return q
}

// Equal reports whether p and q produce the same ruleset.
func (p Policy) Equal(q Policy) bool {
	a, b := p.Canonical(), q.Canonical()
	return a.Table == b.Table &&
		a.ClientPort == b.ClientPort && a.PeerPort == b.PeerPort && a.MetricsPort == b.MetricsPort &&
		a.AgentMetricsPort == b.AgentMetricsPort && a.HoldPeers == b.HoldPeers &&
		slices.Equal(a.Peers, b.Peers) &&
		slices.Equal(a.ClientCIDRs, b.ClientCIDRs) &&
		slices.Equal(a.MonitoringCIDRs, b.MonitoringCIDRs) &&
		slices.Equal(a.MetadataAddrs, b.MetadataAddrs)
}

// canonicalAddrs returns a sorted copy without duplicates; nil for none so
// that policies compare equal whatever empty slice they were built with.
func canonicalAddrs(in []netip.Addr) []netip.Addr {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// canonicalPrefixes returns the prefixes sorted by address, dropping any
// prefix inside another: nft and the kernel refuse overlapping intervals, and
// a covered prefix adds nothing. Adjacent prefixes are kept as they are.
func canonicalPrefixes(in []netip.Prefix) []netip.Prefix {
	if len(in) == 0 {
		return nil
	}
	sorted := slices.Clone(in)
	// Shorter prefixes first at equal addresses, so the covering one is kept.
	slices.SortFunc(sorted, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	var out []netip.Prefix
	for _, p := range sorted {
		// Prefixes either nest or are disjoint, and sorting puts a covering
		// prefix before everything it covers; so checking the last kept prefix
		// of the same family is enough.
		covered := false
		for i := len(out) - 1; i >= 0; i-- {
			if out[i].Addr().Is4() != p.Addr().Is4() {
				continue
			}
			covered = out[i].Overlaps(p)
			break
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}
