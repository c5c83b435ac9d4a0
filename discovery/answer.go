package discovery

import (
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
	resp := answerQuery(s.Zone(), req)
	q := req.Question[0]
	s.log.Debug("query", "name", q.Name, "type", dns.Type(q.Qtype), "rcode", dns.RcodeToString[resp.Rcode], "answers", len(resp.Answer), "tcp", overTCP)

	size := dns.MinMsgSize
	if opt != nil {
		resp.SetEdns0(advertisedUDPSize, false)
		size = max(size, min(int(opt.UDPSize()), advertisedUDPSize))
	}
	if overTCP {
		size = dns.MaxMsgSize
	}
	if sig != nil {
		// Leave room for the TSIG record WriteMsg appends: owner, algorithm,
		// fixed fields and a MAC of up to 64 bytes.
		size -= len(sig.Hdr.Name) + len(sig.Algorithm) + 4 + 10 + 16 + 64
	}
	fitResponse(resp, size)
	return resp
}

// answerQuery answers req from z, without regard to message size: the
// authoritative answer (AA) for names in the zone, REFUSED for the rest.
func answerQuery(z *Zone, req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg).SetReply(req)
	resp.Compress = true
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY || !z.Contains(q.Name) {
		// Not ours, and the server does not recurse.
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		// Zone transfers are not offered: the zone file is the copy to share.
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	resp.Authoritative = true
	name := dns.CanonicalName(q.Name)
	answer := z.rrset(name, q.Qtype)
	if len(answer) == 0 && q.Qtype != dns.TypeCNAME {
		answer = z.rrset(name, dns.TypeCNAME)
	}
	switch {
	case len(answer) > 0:
		resp.Answer = answer
		resp.Extra = additional(z, answer)
	case z.Exists(name):
		// NODATA: the name exists, the type does not (RFC 2308 section 2.2).
		resp.Ns = []dns.RR{negativeSOA(z)}
	default:
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{negativeSOA(z)}
	}
	return resp
}

// negativeSOA is the SOA for a negative answer; its TTL is the lesser of the
// SOA's TTL and minimum (RFC 2308 section 3).
func negativeSOA(z *Zone) dns.RR {
	soa := z.SOA()
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return soa
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
