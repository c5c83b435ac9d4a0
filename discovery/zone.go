package discovery

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Zone is an authoritative zone held in memory: its records indexed by owner
// name. A Zone is never modified once built, so readers share it without
// locks; an update builds a new Zone.
type Zone struct {
	origin string // canonical: lower case, trailing dot
	soa    *dns.SOA
	// nodes holds the records of each owner (canonical name), in canonical order.
	nodes map[string][]dns.RR
	// enclosers are names that own no record but have names below them
	// (empty non-terminals such as _tcp.<origin>): they exist (RFC 8020).
	enclosers map[string]bool
	// answers holds the answer to every query for a record set the zone
	// owns; negative is the authority section of NXDOMAIN and NODATA.
	answers  map[answerKey]*preparedAnswer
	negative []dns.RR
	// packed holds the same answers packed, keyed by question (packed.go).
	packed map[string]*packedAnswer
}

// ZoneOptions are the zone-level records WriteZone adds around the etcd
// records: SOA, NS and the nameserver's address. Zero fields take the value
// of DefaultZoneOptions.
type ZoneOptions struct {
	// Nameserver is the zone's NS target; default ns1.<domain>.
	Nameserver string
	// NameserverAddrs are the addresses of Nameserver, written as its A/AAAA
	// records. Required when Nameserver lies inside the zone: the zone is
	// not valid without them (named-checkzone refuses it).
	NameserverAddrs []netip.Addr
	// Hostmaster is the SOA's mailbox as a name; default hostmaster.<domain>.
	Hostmaster string
	// TTL of the SOA, NS and nameserver records, and the zone's $TTL.
	TTL uint32
	// SOA timers, in seconds.
	Refresh, Retry, Expire uint32
	// Minimum is the SOA minimum: how long resolvers cache "no such name".
	// Kept short because members register and leave at run time.
	Minimum uint32
}

// DefaultZoneOptions returns the zone options used for domain where a field
// of ZoneOptions is left zero. NameserverAddrs has no default.
func DefaultZoneOptions(domain string) ZoneOptions {
	d := dns.CanonicalName(domain)
	return ZoneOptions{
		Nameserver: "ns1." + d,
		Hostmaster: "hostmaster." + d,
		TTL:        3600,
		Refresh:    3600,
		Retry:      600,
		Expire:     1209600,
		Minimum:    60,
	}
}

func (o ZoneOptions) withDefaults(domain string) ZoneOptions {
	d := DefaultZoneOptions(domain)
	if o.Nameserver == "" {
		o.Nameserver = d.Nameserver
	}
	if o.Hostmaster == "" {
		o.Hostmaster = d.Hostmaster
	}
	for _, f := range []struct{ v, def *uint32 }{
		{&o.TTL, &d.TTL}, {&o.Refresh, &d.Refresh}, {&o.Retry, &d.Retry},
		{&o.Expire, &d.Expire}, {&o.Minimum, &d.Minimum},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	o.Nameserver = dns.CanonicalName(o.Nameserver)
	o.Hostmaster = dns.CanonicalName(o.Hostmaster)
	return o
}

// WriteZone writes an RFC 1035 zone file for domain: $ORIGIN, $TTL, the SOA
// (with serial), the NS record and the nameserver's address records from
// opts, then rrs (typically from Records), all in canonical order. A
// nameserver inside the zone needs opts.NameserverAddrs.
func WriteZone(w io.Writer, domain string, rrs []dns.RR, serial uint32, opts ZoneOptions) error {
	origin := dns.CanonicalName(domain)
	o := opts.withDefaults(origin)
	if dns.IsSubDomain(origin, o.Nameserver) && len(o.NameserverAddrs) == 0 {
		return fmt.Errorf("write zone %s: nameserver %s is inside the zone but has no address: set ZoneOptions.NameserverAddrs to the DNS server's IP (e.g. from discovery.dns.server)", origin, o.Nameserver)
	}
	all := []dns.RR{
		&dns.SOA{
			Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: o.TTL},
			Ns:      o.Nameserver,
			Mbox:    o.Hostmaster,
			Serial:  serial,
			Refresh: o.Refresh,
			Retry:   o.Retry,
			Expire:  o.Expire,
			Minttl:  o.Minimum,
		},
		&dns.NS{
			Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: o.TTL},
			Ns:  o.Nameserver,
		},
	}
	if dns.IsSubDomain(origin, o.Nameserver) {
		all = append(all, addressRecords(o.Nameserver, o.NameserverAddrs, o.TTL)...)
	}
	all = append(all, rrs...)
	z, err := NewZone(origin, all)
	if err != nil {
		return fmt.Errorf("write zone %s: %w", origin, err)
	}
	if _, err := z.WriteTo(w); err != nil {
		return fmt.Errorf("write zone %s: %w", origin, err)
	}
	return nil
}

// NewZone builds a Zone for origin from rrs. It reports every problem at
// once: records outside the zone or of a class other than IN, a missing or
// extra SOA, no NS at the apex, a CNAME beside other data, and records that
// would not read back the same from a zone file. Duplicate records are
// dropped; the records are copied, their owner names in lower case. A zone
// holds at most 20000 records.
func NewZone(origin string, rrs []dns.RR) (*Zone, error) {
	if _, ok := dns.IsDomainName(origin); !ok || origin == "" {
		return nil, fmt.Errorf("zone origin %q is not a domain name", origin)
	}
	z := &Zone{origin: dns.CanonicalName(origin), nodes: make(map[string][]dns.RR)}
	if len(rrs) > maxZoneRecords {
		return nil, fmt.Errorf("zone %s has %d records, more than the %d etcdboot serves", z.origin, len(rrs), maxZoneRecords)
	}
	var problems []error
	soas := 0
	seen := make(map[string]bool, len(rrs))
	for _, rr := range rrs {
		if rr == nil {
			continue
		}
		if err := z.checkRecord(rr); err != nil {
			problems = append(problems, err)
			continue
		}
		if k := rrKey(rr); !seen[k] {
			seen[k] = true
			if rr.Header().Rrtype == dns.TypeSOA {
				soas++
			}
			c := dns.Copy(rr)
			c.Header().Name = dns.CanonicalName(c.Header().Name)
			z.nodes[c.Header().Name] = append(z.nodes[c.Header().Name], c)
		}
	}
	if soas == 0 {
		problems = append(problems, fmt.Errorf("zone %s has no SOA record: add one at the apex (@)", z.origin))
	}
	if soas > 1 {
		problems = append(problems, fmt.Errorf("zone %s has %d SOA records: it needs exactly one, at the apex", z.origin, soas))
	}
	if soas > 0 && len(z.rrset(z.origin, dns.TypeNS)) == 0 {
		problems = append(problems, fmt.Errorf("zone %s has no NS record at the apex: add one naming its nameserver", z.origin))
	}
	for _, name := range z.names() {
		if len(z.rrset(name, dns.TypeCNAME)) > 0 && len(z.nodes[name]) > 1 {
			problems = append(problems, fmt.Errorf("%s has a CNAME and other records: a CNAME must stand alone (RFC 1034 section 3.6.2)", name))
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	z.finish()
	return z, nil
}

// maxZoneRecords bounds a zone: etcdboot serves etcd discovery records and
// lab zones, and a bound keeps a hostile file or update from exhausting memory.
const maxZoneRecords = 20000

// metaTypes are query and transport types: never zone data.
var metaTypes = map[uint16]bool{
	dns.TypeANY: true, dns.TypeAXFR: true, dns.TypeIXFR: true, dns.TypeMAILA: true,
	dns.TypeMAILB: true, dns.TypeOPT: true, dns.TypeTSIG: true, dns.TypeTKEY: true,
	dns.TypeNone: true,
}

func (z *Zone) checkRecord(rr dns.RR) error {
	h := rr.Header()
	switch {
	case h.Class != dns.ClassINET:
		return fmt.Errorf("record %s: class %s: only class IN is served", rrText(rr), dns.Class(h.Class))
	case metaTypes[h.Rrtype]:
		return fmt.Errorf("record %s: %s is a query type, not zone data", rrText(rr), dns.Type(h.Rrtype))
	case !z.Contains(h.Name):
		return fmt.Errorf("record %s: %s is outside zone %s", rrText(rr), h.Name, z.origin)
	case h.Rrtype == dns.TypeSOA && dns.CanonicalName(h.Name) != z.origin:
		return fmt.Errorf("record %s: an SOA belongs at the zone apex %s", rrText(rr), z.origin)
	case emptyRdata(rr):
		return fmt.Errorf("record %s has no data", rrText(rr))
	case !survivesText(rr):
		return fmt.Errorf("record %s does not read back the same from a zone file", rrText(rr))
	}
	return nil
}

// survivesText reports whether rr reads back unchanged from its text form:
// the server persists the zone as text, so it keeps nothing that would not.
func survivesText(rr dns.RR) bool {
	back, err := dns.NewRR(rr.String())
	return err == nil && back != nil && dns.IsDuplicate(back, rr) && back.Header().Ttl == rr.Header().Ttl
}

// rrKey identifies a record regardless of TTL and of the case of its owner.
func rrKey(rr dns.RR) string {
	h := rr.Header()
	return dns.CanonicalName(h.Name) + "\x00" + dns.Type(h.Rrtype).String() + "\x00" + rdata(rr)
}

// finish sorts every node, drops empty ones and indexes the SOA and the
// empty non-terminals. It is the last step of building a Zone.
func (z *Zone) finish() {
	z.enclosers = make(map[string]bool)
	for name, rrs := range z.nodes {
		if len(rrs) == 0 {
			delete(z.nodes, name)
			continue
		}
		slices.SortStableFunc(rrs, compareRecords)
	}
	for name := range z.nodes {
		idx := dns.Split(name)
		for _, i := range idx[1:] {
			parent := name[i:]
			if parent == z.origin || !dns.IsSubDomain(z.origin, parent) {
				break
			}
			if _, owns := z.nodes[parent]; !owns {
				z.enclosers[parent] = true
			}
		}
	}
	if soa := z.rrset(z.origin, dns.TypeSOA); len(soa) > 0 {
		z.soa = soa[0].(*dns.SOA)
	}
	z.prepareAnswers()
}

// Origin returns the zone's apex, lower case with a trailing dot.
func (z *Zone) Origin() string { return z.origin }

// Serial returns the serial number of the zone's SOA.
func (z *Zone) Serial() uint32 { return z.soa.Serial }

// SOA returns a copy of the zone's SOA record.
func (z *Zone) SOA() *dns.SOA { return dns.Copy(z.soa).(*dns.SOA) }

// Contains reports whether name is at or below the zone's origin.
func (z *Zone) Contains(name string) bool {
	_, ok := dns.IsDomainName(name)
	return ok && dns.IsSubDomain(z.origin, dns.Fqdn(name))
}

// Exists reports whether name exists in the zone: it owns records or has
// names below it.
func (z *Zone) Exists(name string) bool {
	name = dns.CanonicalName(name)
	_, owns := z.nodes[name]
	return owns || z.enclosers[name]
}

// Lookup returns copies of the records of type qtype owned by name; TypeANY
// returns all of name's records.
func (z *Zone) Lookup(name string, qtype uint16) []dns.RR {
	rrs := z.rrset(dns.CanonicalName(name), qtype)
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
	}
	return out
}

// Records returns copies of all records in canonical order, the SOA first.
func (z *Zone) Records() []dns.RR {
	var out []dns.RR
	for _, name := range z.names() {
		for _, rr := range z.nodes[name] {
			out = append(out, dns.Copy(rr))
		}
	}
	return out
}

// rrset returns the zone's own records (not copies: callers must not modify
// them) of type qtype at the canonical name, or all of them for TypeANY.
func (z *Zone) rrset(name string, qtype uint16) []dns.RR {
	rrs := z.nodes[name]
	if qtype == dns.TypeANY {
		return rrs
	}
	if z.answers != nil {
		if p := z.answers[answerKey{name, qtype}]; p != nil {
			return p.answer
		}
		return nil
	}
	var out []dns.RR
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out
}

// names returns the owner names in canonical order (RFC 4034 section 6.1).
func (z *Zone) names() []string {
	names := make([]string, 0, len(z.nodes))
	for name := range z.nodes {
		names = append(names, name)
	}
	slices.SortFunc(names, compareNames)
	return names
}

// compareNames orders names canonically: label by label from the root.
func compareNames(a, b string) int {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	for i, j := len(la)-1, len(lb)-1; i >= 0 && j >= 0; i, j = i-1, j-1 {
		if c := strings.Compare(strings.ToLower(la[i]), strings.ToLower(lb[j])); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(la), len(lb))
}

// compareRecords orders the records of one owner: SOA, NS, then by type
// number and text.
func compareRecords(a, b dns.RR) int {
	rank := func(rr dns.RR) int {
		switch t := rr.Header().Rrtype; t {
		case dns.TypeSOA:
			return -2
		case dns.TypeNS:
			return -1
		default:
			return int(t)
		}
	}
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	return strings.Compare(rdata(a), rdata(b))
}

// rrText is rr on one line, for messages.
func rrText(rr dns.RR) string {
	return strings.ReplaceAll(rr.String(), "\t", " ")
}

// rdata returns the presentation form of rr's data, without its header:
// what follows owner, TTL, class and type, which String separates by tabs
// (a tab inside a name or text is escaped).
func rdata(rr dns.RR) string {
	fields := strings.SplitN(rr.String(), "\t", 5)
	if len(fields) < 5 {
		return ""
	}
	return fields[4]
}
