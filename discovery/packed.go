package discovery

// Responses packed in advance: the common UDP query (one question for a
// record set the zone owns, at most an EDNS0 OPT without options) is
// answered by copying bytes, without unpacking the query or packing the
// response. Everything else takes the full path through miekg/dns.

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// packedAnswer is the response to one question, packed when the zone is
// built: a copy with the query's ID and RD and CD bits is the response the
// full path would send.
type packedAnswer struct {
	plain []byte // to a query without EDNS0
	edns  []byte // to an EDNS0 query: with the server's OPT record
	// answers is the size of the answer section, for the debug log.
	answers int
}

// packAnswers fills z.packed from the prepared answers: one entry per
// (name, type) keyed by the question as it appears on the wire in lower
// case with class IN, so that a query's question bytes find it without
// being unpacked. Names with other bytes than a-z, 0-9, '-' and '_' are
// left to the full path, whose name handling (escapes, case) they would
// need.
func (z *Zone) packAnswers() {
	z.packed = make(map[string]*packedAnswer, len(z.answers))
	for k, p := range z.answers {
		question, ok := wireQuestion(k.name, k.qtype)
		if !ok {
			continue
		}
		m := new(dns.Msg)
		m.Response, m.Authoritative, m.Compress = true, true, true
		m.Question = []dns.Question{{Name: k.name, Qtype: k.qtype, Qclass: dns.ClassINET}}
		m.Answer, m.Extra = p.answer, p.extra
		plain, err := m.Pack()
		if err != nil {
			continue
		}
		m.SetEdns0(advertisedUDPSize, false) // p.extra is clipped: this copies it
		edns, err := m.Pack()
		if err != nil {
			continue
		}
		z.packed[string(question)] = &packedAnswer{plain: plain, edns: edns, answers: len(p.answer)}
	}
}

// wireQuestion returns the question section for (name, qtype, IN) as packed
// on the wire, if name is one the packed answers serve.
func wireQuestion(name string, qtype uint16) ([]byte, bool) {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return nil, false
		}
	}
	buf := make([]byte, len(name)+1+4)
	off, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil || off <= 1 {
		return nil, false
	}
	buf = binary.BigEndian.AppendUint16(buf[:off], qtype)
	return binary.BigEndian.AppendUint16(buf, dns.ClassINET), true
}

// DNS header bits of the fast path.
const (
	headerLen    = 12
	bitsQR       = 0x80 // byte 2
	bitsOpcode   = 0x78 // byte 2
	bitsRD       = 0x01 // byte 2
	bitsCD       = 0x10 // byte 3
	questionTail = 4    // type and class
)

// answerPacked writes into buf (reusing its array) the response to the UDP
// query msg when the zone has it packed, and returns it with the packed
// answer; nil when msg needs the full path: anything but a standard query with one question the
// zone packed and, at most, an EDNS0 version 0 OPT record without options;
// or a response that would not fit the client's UDP size (it is truncated
// there). The response is byte for byte what the full path sends.
func (z *Zone) answerPacked(msg, buf []byte) ([]byte, *packedAnswer) {
	if len(msg) < headerLen+1+questionTail ||
		msg[2]&(bitsQR|bitsOpcode) != 0 || // a response, or not a query
		binary.BigEndian.Uint16(msg[4:]) != 1 || // questions
		binary.BigEndian.Uint16(msg[6:]) != 0 || // answers
		binary.BigEndian.Uint16(msg[8:]) != 0 { // authority
		return nil, nil
	}
	additional := binary.BigEndian.Uint16(msg[10:])
	if additional > 1 {
		return nil, nil
	}
	// The question's name: uncompressed labels up to the root label.
	end := headerLen
	for end < len(msg) && msg[end] != 0 {
		if msg[end] > 63 {
			return nil, nil // a compression pointer or reserved label type
		}
		end += 1 + int(msg[end])
	}
	end += 1 + questionTail
	if end > len(msg) {
		return nil, nil
	}
	p := z.packed[string(msg[headerLen:end])]
	if p == nil {
		return nil, nil
	}
	resp, size := p.plain, dns.MinMsgSize
	if additional == 1 {
		// Only a bare OPT: root owner, type OPT, the client's UDP size, the
		// extended RCODE, version 0 and flags, no options; nothing after.
		opt := msg[end:]
		if len(opt) != optLen || opt[0] != 0 ||
			binary.BigEndian.Uint16(opt[1:]) != dns.TypeOPT ||
			opt[6] != 0 || // version
			binary.BigEndian.Uint16(opt[9:]) != 0 { // options length
			return nil, nil
		}
		resp = p.edns
		size = max(size, min(int(binary.BigEndian.Uint16(opt[3:])), advertisedUDPSize))
	} else if end != len(msg) {
		return nil, nil
	}
	if len(resp) > size {
		return nil, nil
	}
	buf = append(buf[:0], resp...)
	buf[0], buf[1] = msg[0], msg[1]
	buf[2] |= msg[2] & bitsRD
	buf[3] |= msg[3] & bitsCD
	return buf, p
}
