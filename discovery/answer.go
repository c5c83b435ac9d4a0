package discovery

import (
	"context"
	"log/slog"
	"slices"

	"github.com/miekg/dns"
)

// query answers a query from the zone, sized for its transport.
func (s *Server) query(req *dns.Msg, overTCP bool, sig *dns.TSIG) *dns.Msg {
	if len(req.Question) != 1 {
		// The header promised one question; a truncated message carries none.
		return new(dns.Msg).SetRcode(req, dns.RcodeFormatError)
	}
	opt := req.IsEdns0()
	if opt != nil && opt.Version() != 0 {
		// RFC 6891 section 6.1.3: only EDNS version 0 exists.
		resp := new(dns.Msg).SetRcode(req, dns.RcodeBadVers)
		resp.SetEdns0(advertisedUDPSize, false)
		return resp
	}
	resp, wireLen := answer(s.Zone(), req)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		// Checked first: the arguments would cost allocations on every query.
		q := req.Question[0]
		s.log.Debug("query", "name", q.Name, "type", dns.Type(q.Qtype), "rcode", dns.RcodeToString[resp.Rcode], "answers", len(resp.Answer), "tcp", overTCP)
	}

	size := dns.MinMsgSize
	if opt != nil {
		resp.SetEdns0(advertisedUDPSize, false)
		size = max(size, min(int(opt.UDPSize()), advertisedUDPSize))
		wireLen += optLen
	}
	if overTCP {
		size = dns.MaxMsgSize
	}
	if sig != nil {
		// Leave room for the TSIG record WriteMsg appends: owner, algorithm,
		// fixed fields and a MAC of up to 64 bytes.
		size -= len(sig.Hdr.Name) + len(sig.Algorithm) + 4 + 10 + 16 + 64
	}
	if wireLen == 0 || wireLen > size {
		fitResponse(resp, size)
	}
	return resp
}

// optLen is the wire length of the OPT record SetEdns0 adds: root owner,
// type, class, TTL and an empty RDATA.
const optLen = 1 + 2 + 2 + 4 + 2

// answerQuery answers req from z, without regard to message size: the
// authoritative answer (AA) for names in the zone, REFUSED for the rest.
func answerQuery(z *Zone, req *dns.Msg) *dns.Msg {
	resp, _ := answer(z, req)
	return resp
}

// answer is answerQuery that also returns the response's packed length
// (without EDNS0 or TSIG) when the zone knows it in advance, else 0. Every
// record set a query may ask for is prepared when the zone is built (see
// prepareAnswers), so the common query costs one map lookup and the reply.
func answer(z *Zone, req *dns.Msg) (*dns.Msg, int) {
	resp := new(dns.Msg).SetReply(req)
	resp.Compress = true
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		resp.Rcode = dns.RcodeRefused
		return resp, 0
	}
	name := dns.CanonicalName(q.Name)
	if p, ok := z.answers[answerKey{name, q.Qtype}]; ok {
		resp.Authoritative = true
		resp.Answer, resp.Extra = p.answer, p.extra
		if name != q.Name {
			// The question's case differs from the owners': compression may
			// save less than prepared for, so the length is measured.
			return resp, 0
		}
		return resp, p.wireLen
	}
	if !z.Contains(q.Name) {
		// Not ours, and the server does not recurse.
		resp.Rcode = dns.RcodeRefused
		return resp, 0
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		// Zone transfers are not offered: the zone file is the copy to share.
		resp.Rcode = dns.RcodeRefused
		return resp, 0
	}
	resp.Authoritative = true
	rrs := z.rrset(name, q.Qtype)
	if len(rrs) == 0 && q.Qtype != dns.TypeCNAME {
		rrs = z.rrset(name, dns.TypeCNAME)
	}
	switch {
	case len(rrs) > 0:
		resp.Answer = rrs
		resp.Extra = additional(z, rrs)
	case z.Exists(name):
		// NODATA: the name exists, the type does not (RFC 2308 section 2.2).
		resp.Ns = z.negative
	default:
		resp.Rcode = dns.RcodeNameError
		resp.Ns = z.negative
	}
	return resp, 0
}

// answerKey names a prepared answer: an owner (canonical) and a query type.
type answerKey struct {
	name  string
	qtype uint16
}

// preparedAnswer is the answer and additional section for one answerKey.
// Its slices are shared by every response and clipped, so that appending
// (SetEdns0, SetTsig) copies them instead of writing into them.
type preparedAnswer struct {
	answer, extra []dns.RR
	// wireLen is the packed length of the compressed response to a query
	// for the key's name as owned (lower case), without EDNS0 or TSIG.
	wireLen int
}

// prepareAnswers fills z.answers with every (name, type) the zone owns and
// (name, ANY), z.negative with the authority section of negative answers,
// and z.packed with the answers packed for UDP (packAnswers). It runs once
// per Zone: an update builds a new Zone and with it new answers, so the
// query path takes no lock and builds nothing.
func (z *Zone) prepareAnswers() {
	z.answers = make(map[answerKey]*preparedAnswer)
	for name, rrs := range z.nodes {
		types := []uint16{dns.TypeANY}
		for _, rr := range rrs {
			if t := rr.Header().Rrtype; !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
		for _, t := range types {
			var set []dns.RR
			if t == dns.TypeANY {
				set = rrs
			} else {
				for _, rr := range rrs {
					if rr.Header().Rrtype == t {
						set = append(set, rr)
					}
				}
			}
			p := &preparedAnswer{answer: slices.Clip(set)}
			z.answers[answerKey{name, t}] = p
		}
	}
	// additional reads the answers just prepared for A and AAAA.
	for k, p := range z.answers {
		p.extra = slices.Clip(additional(z, p.answer))
		m := new(dns.Msg).SetQuestion(k.name, k.qtype)
		m.Response, m.Authoritative, m.Compress = true, true, true
		m.Answer, m.Extra = p.answer, p.extra
		p.wireLen = m.Len()
	}
	if z.soa != nil {
		soa := dns.Copy(z.soa).(*dns.SOA)
		soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
		z.negative = []dns.RR{soa}
	}
	z.packAnswers()
}

// additional returns the in-zone addresses of the names the answer points
// to (SRV targets, NS and MX hosts), so clients need not ask again.
func additional(z *Zone, answer []dns.RR) []dns.RR {
	var extra []dns.RR
	seen := make(map[string]bool)
	for _, rr := range answer {
		var host string
		switch rr := rr.(type) {
		case *dns.SRV:
			host = rr.Target
		case *dns.NS:
			host = rr.Ns
		case *dns.MX:
			host = rr.Mx
		default:
			continue
		}
		host = dns.CanonicalName(host)
		if seen[host] || !z.Contains(host) {
			continue
		}
		seen[host] = true
		extra = append(extra, z.rrset(host, dns.TypeA)...)
		extra = append(extra, z.rrset(host, dns.TypeAAAA)...)
	}
	return extra
}

// fitResponse makes m fit in size bytes. Additional data is optional and is
// dropped whole RRset by RRset without further ado (RFC 2181 section 9). If
// the answer or authority section does not fit, m is truncated: TC set and
// the sections emptied, so the client asks again over TCP (RFC 7766).
func fitResponse(m *dns.Msg, size int) {
	if m.Len() <= size {
		return
	}
	var opt []dns.RR
	var extra [][]dns.RR // RRsets in order
	for _, rr := range m.Extra {
		h := rr.Header()
		if h.Rrtype == dns.TypeOPT {
			opt = append(opt, rr)
			continue
		}
		if n := len(extra); n > 0 {
			last := extra[n-1][0].Header()
			if last.Rrtype == h.Rrtype && dns.CanonicalName(last.Name) == dns.CanonicalName(h.Name) {
				extra[n-1] = append(extra[n-1], rr)
				continue
			}
		}
		extra = append(extra, []dns.RR{rr})
	}
	m.Extra = opt
	if m.Len() > size {
		m.Truncated = true
		m.Answer, m.Ns = nil, nil
		return
	}
	var kept []dns.RR
	for _, set := range extra {
		m.Extra = slices.Concat(kept, set, opt)
		if m.Len() > size {
			break
		}
		kept = append(kept, set...)
	}
	m.Extra = slices.Concat(kept, opt)
}
