package discovery

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/spec"
)

// fuzzSeedMessages are well-formed messages the server sees in practice: an
// SRV query, an A query with EDNS0, and a registration update.
func fuzzSeedMessages(tb testing.TB) [][]byte {
	tb.Helper()
	q := new(dns.Msg).SetQuestion("_etcd-server-ssl._tcp."+testDomain+".", dns.TypeSRV)
	a := new(dns.Msg).SetQuestion("etcd1."+testDomain+".", dns.TypeA)
	a.SetEdns0(4096, false)
	up := new(dns.Msg).SetUpdate(testDomain + ".")
	rr, err := dns.NewRR("etcd4." + testDomain + ". 60 IN A 192.168.2.54")
	if err != nil {
		tb.Fatal(err)
	}
	up.Insert([]dns.RR{rr})
	up.RemoveName([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "etcd9." + testDomain + ".", Rrtype: dns.TypeANY, Class: dns.ClassANY}}})
	var out [][]byte
	for _, m := range []*dns.Msg{q, a, up} {
		b, err := m.Pack()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzServerMessage feeds raw messages through the server's own path: the
// header filter, unpacking, then the answer to a query or the application of
// an RFC 2136 update, as if its TSIG signature had verified (the strongest
// client there is). No message may panic the server, and a served zone
// always writes and reads back.
func FuzzServerMessage(f *testing.F) {
	for _, m := range fuzzSeedMessages(f) {
		f.Add(m, false)
	}
	zone := writeTestZone(f, threeTargets(), 1)
	f.Fuzz(func(t *testing.T, wire []byte, overTCP bool) {
		var dh dns.Header
		if len(wire) < 12 {
			return
		}
		dh.Id = uint16(wire[0])<<8 | uint16(wire[1])
		dh.Bits = uint16(wire[2])<<8 | uint16(wire[3])
		dh.Qdcount = uint16(wire[4])<<8 | uint16(wire[5])
		dh.Ancount = uint16(wire[6])<<8 | uint16(wire[7])
		dh.Nscount = uint16(wire[8])<<8 | uint16(wire[9])
		dh.Arcount = uint16(wire[10])<<8 | uint16(wire[11])
		if acceptMsg(dh) != dns.MsgAccept {
			return
		}
		req := new(dns.Msg)
		if err := req.Unpack(wire); err != nil {
			return
		}
		if req.Opcode == dns.OpcodeUpdate && req.IsTsig() == nil {
			// Sign it with the server's key name: the fuzzer cannot forge a
			// MAC, so take the verified path directly.
			req.SetTsig("etcdboot-update.", dns.HmacSHA256, 300, 0)
		}
		file := filepath.Join(t.TempDir(), testDomain+".zone")
		if err := os.WriteFile(file, zone, 0o600); err != nil {
			t.Fatal(err)
		}
		key := newTestKey(t)
		s, err := NewServer(ServerConfig{ZoneFile: file, Origin: testDomain, Listen: "127.0.0.1:0", TSIGKeys: []spec.TSIGKey{key}})
		if err != nil {
			t.Fatal(err)
		}
		resp := s.respond(req, nil, overTCP)
		if resp == nil {
			t.Fatal("no response")
		}
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("response does not pack: %v\n%v", err, resp)
		}
		if _, err := s.Zone().WriteTo(io.Discard); err != nil {
			t.Fatalf("zone after the message does not write: %v", err)
		}
	})
}

// TestServerSurvivesMessagesWithoutQuestion: a bare 12-byte header that
// promises a question it does not carry (a query, then an update) gets
// FORMERR over UDP and TCP, and the server goes on answering. Before, one
// such UDP packet crashed `etcdboot dns serve` (index out of range).
func TestServerSurvivesMessagesWithoutQuestion(t *testing.T) {
	s, _ := startServer(t, writeTestZone(t, threeTargets(), 1))
	for _, opcode := range []int{dns.OpcodeQuery, dns.OpcodeUpdate} {
		for _, network := range []string{"udp", "tcp"} {
			header := []byte{0x12, 0x34, byte(opcode << 3), 0, 0, 1, 0, 0, 0, 0, 0, 0}
			conn, err := net.DialTimeout(network, s.Addr(), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
			co := &dns.Conn{Conn: conn}
			if _, err := co.Write(header); err != nil {
				t.Fatal(err)
			}
			resp, err := co.ReadMsg()
			conn.Close()
			if err != nil {
				t.Fatalf("%s %s: no answer to a header without its question: %v", dns.OpcodeToString[opcode], network, err)
			}
			if resp.Rcode != dns.RcodeFormatError {
				t.Errorf("%s %s: rcode %s, want FORMERR", dns.OpcodeToString[opcode], network, dns.RcodeToString[resp.Rcode])
			}
		}
	}
	if peers := lookup(t, s.Addr(), "etcd-server-ssl"); len(peers) != 3 {
		t.Fatalf("after the bad messages the server answers %d peers, want 3", len(peers))
	}
}

// FuzzPackedAnswer checks the UDP fast path against the full one: whatever
// the message, a packed answer is sent only for a message the full path
// accepts, and it is byte for byte the full path's response.
func FuzzPackedAnswer(f *testing.F) {
	for _, m := range fuzzSeedMessages(f) {
		f.Add(m)
	}
	srv := SRVName(ServerService, testDomain)
	for _, edns := range []uint16{0, 100, 1232, 4096} {
		f.Add(query(f, 1, srv, dns.TypeSRV, edns, true, false))
		f.Add(query(f, 2, "many."+testDomain+".", dns.TypeA, edns, false, true))
	}
	z := labZoneParsed(f)
	f.Fuzz(func(t *testing.T, wire []byte) {
		got, p := z.answerPacked(wire, nil)
		if got == nil {
			return
		}
		if want := fullPath(t, z, wire); !bytes.Equal(got, want) {
			t.Fatalf("packed response differs from the full path's:\n got %x\nwant %x", got, want)
		}
		if p == nil {
			t.Fatal("a packed response without its entry")
		}
	})
}
