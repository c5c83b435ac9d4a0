package discovery

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	"github.com/miekg/dns"
)

// update handles an RFC 2136 UPDATE: only with a valid signature by a known
// key (the signature itself was checked before), applied all or nothing,
// persisted before it is acknowledged.
func (s *Server) update(req *dns.Msg) *dns.Msg {
	if len(req.Question) != 1 {
		// RFC 2136 section 3.1.1: exactly one zone; a truncated message has none.
		return new(dns.Msg).SetRcode(req, dns.RcodeFormatError)
	}
	sig := req.IsTsig()
	log := s.log.With("opcode", "UPDATE")
	if sig == nil {
		log.Warn("unsigned update refused: sign it with one of the server's TSIG keys")
		return new(dns.Msg).SetRcode(req, dns.RcodeRefused)
	}
	log = log.With("key", sig.Hdr.Name)
	if _, known := s.keys[dns.CanonicalName(sig.Hdr.Name)]; !known {
		// The TSIG check already refuses unknown keys; this keeps that
		// promise should the check ever be bypassed.
		return new(dns.Msg).SetRcode(req, dns.RcodeNotAuth)
	}

	s.updateMu.Lock()
	defer s.updateMu.Unlock()
	cur := s.Zone()
	next, rcode, why := applyUpdate(cur, req)
	switch {
	case rcode != dns.RcodeSuccess:
		log.Warn("update rejected", "rcode", dns.RcodeToString[rcode], "why", why)
	case next == cur:
		log.Debug("update changed nothing", "serial", cur.Serial())
	default:
		if err := s.persist(next); err != nil {
			log.Error("update not applied: zone file not saved", "file", s.cfg.ZoneFile, "err", err)
			rcode = dns.RcodeServerFailure
			break
		}
		s.zone.Store(next)
		log.Info("zone updated", "serial", next.Serial(), "changes", len(req.Ns))
	}
	return new(dns.Msg).SetRcode(req, rcode)
}

// persist writes z to the zone file so that a restart serves what was
// acknowledged.
func (s *Server) persist(z *Zone) error {
	var buf bytes.Buffer
	if _, err := z.WriteTo(&buf); err != nil {
		return fmt.Errorf("render zone %s: %w", z.Origin(), err)
	}
	return writeFileAtomic(s.cfg.ZoneFile, buf.Bytes())
}

// applyUpdate carries out the RFC 2136 update req on z: zone section,
// prerequisites (section 3.2), prescan (3.4.1) and the updates in order
// (3.4.2). It returns the resulting zone (z itself when nothing changed) with
// a bumped SOA serial, the response code and, when refused, why.
func applyUpdate(z *Zone, req *dns.Msg) (*Zone, int, string) {
	q := req.Question[0]
	if q.Qtype != dns.TypeSOA {
		return z, dns.RcodeFormatError, "zone section type is not SOA"
	}
	if q.Qclass != dns.ClassINET || dns.CanonicalName(q.Name) != z.origin {
		return z, dns.RcodeNotAuth, fmt.Sprintf("server is not authoritative for zone %s", q.Name)
	}
	if rcode, why := checkPrerequisites(z, req.Answer); rcode != dns.RcodeSuccess {
		return z, rcode, why
	}
	for _, rr := range req.Ns {
		if rcode, why := prescan(z, rr); rcode != dns.RcodeSuccess {
			return z, rcode, why
		}
	}
	e := newZoneEdit(z)
	for _, rr := range req.Ns {
		e.apply(rr)
	}
	if !e.changed || sameNodes(e.nodes, z.nodes) {
		// Nothing changed, or what was deleted was added back (a repeated
		// registration): the serial stays.
		return z, dns.RcodeSuccess, ""
	}
	if n := e.count(); n > maxZoneRecords {
		return z, dns.RcodeRefused, fmt.Sprintf("the zone would hold %d records, more than %d", n, maxZoneRecords)
	}
	return e.finish(), dns.RcodeSuccess, ""
}

type rrsetKey struct {
	name  string
	rtype uint16
}

// checkPrerequisites checks the prerequisite section (RFC 2136 section 3.2).
func checkPrerequisites(z *Zone, prereqs []dns.RR) (int, string) {
	valueDependent := make(map[rrsetKey][]dns.RR)
	for _, rr := range prereqs {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		if h.Ttl != 0 {
			return dns.RcodeFormatError, fmt.Sprintf("prerequisite %s has a TTL", rrText(rr))
		}
		if !z.Contains(name) {
			return dns.RcodeNotZone, fmt.Sprintf("prerequisite name %s is outside zone %s", name, z.origin)
		}
		_, inUse := z.nodes[name]
		switch h.Class {
		case dns.ClassANY:
			if h.Rdlength != 0 {
				return dns.RcodeFormatError, fmt.Sprintf("prerequisite %s has data", rrText(rr))
			}
			if h.Rrtype == dns.TypeANY && !inUse {
				return dns.RcodeNameError, fmt.Sprintf("prerequisite: name %s is not in use", name)
			}
			if h.Rrtype != dns.TypeANY && len(z.rrset(name, h.Rrtype)) == 0 {
				return dns.RcodeNXRrset, fmt.Sprintf("prerequisite: no %s RRset at %s", dns.Type(h.Rrtype), name)
			}
		case dns.ClassNONE:
			if h.Rdlength != 0 {
				return dns.RcodeFormatError, fmt.Sprintf("prerequisite %s has data", rrText(rr))
			}
			if h.Rrtype == dns.TypeANY && inUse {
				return dns.RcodeYXDomain, fmt.Sprintf("prerequisite: name %s is in use", name)
			}
			if h.Rrtype != dns.TypeANY && len(z.rrset(name, h.Rrtype)) > 0 {
				return dns.RcodeYXRrset, fmt.Sprintf("prerequisite: %s RRset exists at %s", dns.Type(h.Rrtype), name)
			}
		case dns.ClassINET:
			if metaTypes[h.Rrtype] {
				return dns.RcodeFormatError, fmt.Sprintf("prerequisite %s has a query type", rrText(rr))
			}
			k := rrsetKey{name, h.Rrtype}
			valueDependent[k] = append(valueDependent[k], rr)
		default:
			return dns.RcodeFormatError, fmt.Sprintf("prerequisite %s has class %s", rrText(rr), dns.Class(h.Class))
		}
	}
	for k, want := range valueDependent {
		if !sameRecords(z.rrset(k.name, k.rtype), want) {
			return dns.RcodeNXRrset, fmt.Sprintf("prerequisite: the %s RRset at %s differs", dns.Type(k.rtype), k.name)
		}
	}
	return dns.RcodeSuccess, ""
}

// sameRecords reports whether a and b hold the same records, ignoring TTLs,
// order and duplicates.
func sameRecords(a, b []dns.RR) bool {
	contains := func(set []dns.RR, rr dns.RR) bool {
		return slices.ContainsFunc(set, func(x dns.RR) bool { return dns.IsDuplicate(x, rr) })
	}
	for _, rr := range a {
		if !contains(b, rr) {
			return false
		}
	}
	for _, rr := range b {
		if !contains(a, rr) {
			return false
		}
	}
	return true
}

// sameNodes reports whether a and b hold the same records with the same TTLs.
func sameNodes(a, b map[string][]dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for name, as := range a {
		bs := b[name]
		if len(as) != len(bs) {
			return false
		}
		keys := make(map[string]bool, len(bs))
		for _, rr := range bs {
			keys[rrKey(rr)+fmt.Sprint(rr.Header().Ttl)] = true
		}
		for _, rr := range as {
			if !keys[rrKey(rr)+fmt.Sprint(rr.Header().Ttl)] {
				return false
			}
		}
	}
	return true
}

// prescan checks one update record before anything is applied (RFC 2136
// section 3.4.1.3), so that an update is applied whole or not at all.
func prescan(z *Zone, rr dns.RR) (int, string) {
	h := rr.Header()
	if !z.Contains(h.Name) {
		return dns.RcodeNotZone, fmt.Sprintf("update %s is outside zone %s", rrText(rr), z.origin)
	}
	switch h.Class {
	case dns.ClassINET:
		if metaTypes[h.Rrtype] {
			return dns.RcodeFormatError, fmt.Sprintf("update adds a record of query type %s", dns.Type(h.Rrtype))
		}
		if emptyRdata(rr) {
			return dns.RcodeFormatError, fmt.Sprintf("update adds %s with no data", rrText(rr))
		}
		if !survivesText(rr) {
			return dns.RcodeFormatError, fmt.Sprintf("update adds %s, which does not read back from a zone file", rrText(rr))
		}
	case dns.ClassANY:
		if h.Ttl != 0 || h.Rdlength != 0 || metaTypes[h.Rrtype] && h.Rrtype != dns.TypeANY {
			return dns.RcodeFormatError, fmt.Sprintf("malformed RRset deletion %s", rrText(rr))
		}
	case dns.ClassNONE:
		if h.Ttl != 0 || metaTypes[h.Rrtype] {
			return dns.RcodeFormatError, fmt.Sprintf("malformed record deletion %s", rrText(rr))
		}
	default:
		return dns.RcodeFormatError, fmt.Sprintf("update %s has class %s", rrText(rr), dns.Class(h.Class))
	}
	return dns.RcodeSuccess, ""
}

// emptyRdata reports whether rr has no data (or cannot be packed): miekg/dns
// allows that for deletions, but such a record is not zone data.
func emptyRdata(rr dns.RR) bool {
	c := dns.Copy(rr)
	buf := make([]byte, dns.Len(c)+64)
	if _, err := dns.PackRR(c, buf, 0, nil, false); err != nil {
		return true
	}
	return c.Header().Rdlength == 0
}

// zoneEdit is a copy of a zone's records being changed by an update.
type zoneEdit struct {
	origin     string
	nodes      map[string][]dns.RR
	changed    bool
	soaChanged bool // the update set the SOA itself: keep its serial
}

func newZoneEdit(z *Zone) *zoneEdit {
	nodes := maps.Clone(z.nodes)
	for name, rrs := range nodes {
		nodes[name] = slices.Clone(rrs)
	}
	return &zoneEdit{origin: z.origin, nodes: nodes}
}

// apply carries out one update record (RFC 2136 section 3.4.2).
func (e *zoneEdit) apply(rr dns.RR) {
	h := rr.Header()
	name := dns.CanonicalName(h.Name)
	apex := name == e.origin
	switch h.Class {
	case dns.ClassINET:
		e.add(name, rr)
	case dns.ClassANY:
		if h.Rrtype == dns.TypeANY {
			// Delete all RRsets from a name; the apex keeps SOA and NS.
			e.remove(name, func(x dns.RR) bool {
				t := x.Header().Rrtype
				return !apex || t != dns.TypeSOA && t != dns.TypeNS
			})
			return
		}
		if apex && (h.Rrtype == dns.TypeSOA || h.Rrtype == dns.TypeNS) {
			return
		}
		e.remove(name, func(x dns.RR) bool { return x.Header().Rrtype == h.Rrtype })
	case dns.ClassNONE:
		if h.Rrtype == dns.TypeSOA {
			return
		}
		if apex && h.Rrtype == dns.TypeNS && len(e.rrset(name, dns.TypeNS)) <= 1 {
			return // never the zone's last NS
		}
		target := dns.Copy(rr)
		target.Header().Class = dns.ClassINET
		e.remove(name, func(x dns.RR) bool { return dns.IsDuplicate(x, target) })
	}
}

func (e *zoneEdit) count() int {
	n := 0
	for _, rrs := range e.nodes {
		n += len(rrs)
	}
	return n
}

func (e *zoneEdit) rrset(name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range e.nodes[name] {
		if rr.Header().Rrtype == t {
			out = append(out, rr)
		}
	}
	return out
}

// remove drops the records of name that match.
func (e *zoneEdit) remove(name string, match func(dns.RR) bool) {
	before := len(e.nodes[name])
	e.nodes[name] = slices.DeleteFunc(e.nodes[name], match)
	if len(e.nodes[name]) != before {
		e.changed = true
	}
	if len(e.nodes[name]) == 0 {
		delete(e.nodes, name)
	}
}

// add adds rr to name following RFC 2136 section 3.4.2.2: CNAME and other
// data never mix; an SOA replaces the zone's only if its serial is newer; a
// record already present has its TTL refreshed. All records of an RRset
// take the TTL of the newest (RFC 2181 section 5.2).
func (e *zoneEdit) add(name string, rr dns.RR) {
	t := rr.Header().Rrtype
	node := e.nodes[name]
	hasCNAME := slices.ContainsFunc(node, func(x dns.RR) bool { return x.Header().Rrtype == dns.TypeCNAME })
	hasOther := slices.ContainsFunc(node, func(x dns.RR) bool { return x.Header().Rrtype != dns.TypeCNAME })
	switch {
	case t == dns.TypeSOA:
		if name != e.origin {
			return
		}
		soa, ok := rr.(*dns.SOA)
		cur := e.rrset(name, dns.TypeSOA)[0].(*dns.SOA)
		if !ok || !serialNewer(soa.Serial, cur.Serial) {
			return
		}
		e.remove(name, func(x dns.RR) bool { return x.Header().Rrtype == dns.TypeSOA })
		e.nodes[name] = append(e.nodes[name], ownedBy(name, rr))
		e.changed, e.soaChanged = true, true
		return
	case t == dns.TypeCNAME && hasOther, t != dns.TypeCNAME && hasCNAME:
		return
	case t == dns.TypeCNAME:
		e.remove(name, func(x dns.RR) bool { return x.Header().Rrtype == dns.TypeCNAME && !dns.IsDuplicate(x, rr) })
	}
	ttl := rr.Header().Ttl
	present := false
	for i, x := range e.nodes[name] {
		if x.Header().Rrtype != t {
			continue
		}
		if dns.IsDuplicate(x, rr) {
			present = true
		}
		if x.Header().Ttl != ttl {
			c := dns.Copy(x) // the zone being replaced still holds x
			c.Header().Ttl = ttl
			e.nodes[name][i] = c
			e.changed = true
		}
	}
	if !present {
		e.nodes[name] = append(e.nodes[name], ownedBy(name, rr))
		e.changed = true
	}
}

// ownedBy returns a copy of rr owned by the canonical name.
func ownedBy(name string, rr dns.RR) dns.RR {
	c := dns.Copy(rr)
	c.Header().Name = name
	return c
}

// serialNewer compares SOA serials in RFC 1982 arithmetic.
func serialNewer(a, b uint32) bool {
	return a != b && int32(a-b) > 0
}

// finish builds the new Zone, its SOA serial bumped unless the update set it.
func (e *zoneEdit) finish() *Zone {
	if !e.soaChanged {
		soa := dns.Copy(e.rrset(e.origin, dns.TypeSOA)[0]).(*dns.SOA)
		soa.Serial++
		e.remove(e.origin, func(x dns.RR) bool { return x.Header().Rrtype == dns.TypeSOA })
		e.nodes[e.origin] = append(e.nodes[e.origin], soa)
	}
	z := &Zone{origin: e.origin, nodes: e.nodes}
	z.finish()
	return z
}
