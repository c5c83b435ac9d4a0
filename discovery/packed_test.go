package discovery

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/spec"
)

// fullPath is what the server sends over UDP for wire when it takes the
// full path (dns.Server's filter, unpacking, respond, packing); nil when it
// sends nothing or the message is not one answerPacked may take.
func fullPath(t testing.TB, z *Zone, wire []byte) []byte {
	t.Helper()
	if len(wire) < 12 {
		return nil
	}
	dh := dns.Header{
		Id:      uint16(wire[0])<<8 | uint16(wire[1]),
		Bits:    uint16(wire[2])<<8 | uint16(wire[3]),
		Qdcount: uint16(wire[4])<<8 | uint16(wire[5]),
		Ancount: uint16(wire[6])<<8 | uint16(wire[7]),
		Nscount: uint16(wire[8])<<8 | uint16(wire[9]),
		Arcount: uint16(wire[10])<<8 | uint16(wire[11]),
	}
	req := new(dns.Msg)
	if acceptMsg(dh) != dns.MsgAccept || req.Unpack(wire) != nil || req.IsTsig() != nil {
		return nil
	}
	s := &Server{log: slog.New(slog.DiscardHandler)}
	s.zone.Store(z)
	packed, err := s.respond(req, nil, false).Pack()
	if err != nil {
		t.Fatalf("full path response does not pack: %v", err)
	}
	return packed
}

// query packs a query for (name, qtype) with id; edns 0 sends no OPT.
func query(t testing.TB, id uint16, name string, qtype uint16, edns uint16, rd, cd bool) []byte {
	t.Helper()
	m := new(dns.Msg).SetQuestion(name, qtype)
	m.Id, m.RecursionDesired, m.CheckingDisabled = id, rd, cd
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

func labZoneParsed(t testing.TB) *Zone {
	t.Helper()
	z, err := ParseZone(bytes.NewReader(labZone(t)), testDomain, "lab.zone")
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestPackedAnswersAreTheFullPathsResponse checks every packed answer, with
// and without EDNS0, RD and CD, against the full path's response byte for
// byte, and that only a response too large for the client is left to it.
func TestPackedAnswersAreTheFullPathsResponse(t *testing.T) {
	z := labZoneParsed(t)
	if len(z.packed) != len(z.answers) {
		t.Errorf("%d answers packed of %d prepared: every lab name is plain", len(z.packed), len(z.answers))
	}
	for k := range z.answers {
		for _, edns := range []uint16{0, 100, 512, 1232, 4096} {
			for _, bits := range []struct{ rd, cd bool }{{false, false}, {true, false}, {true, true}} {
				wire := query(t, 0xbeef, k.name, k.qtype, edns, bits.rd, bits.cd)
				want := fullPath(t, z, wire)
				got, p := z.answerPacked(wire, nil)
				switch {
				case got == nil:
					var resp dns.Msg
					if err := resp.Unpack(want); err != nil || !resp.Truncated {
						t.Errorf("%s %s EDNS %d: not packed, but the full path answers it whole", k.name, dns.Type(k.qtype), edns)
					}
				case !bytes.Equal(got, want):
					t.Errorf("%s %s EDNS %d RD %v CD %v: packed response differs from the full path's:\n got %x\nwant %x", k.name, dns.Type(k.qtype), edns, bits.rd, bits.cd, got, want)
				case p.answers != len(z.answers[k].answer):
					t.Errorf("%s %s: %d answers counted, %d sent", k.name, dns.Type(k.qtype), p.answers, len(z.answers[k].answer))
				}
			}
		}
	}
}

// TestPackedAnswerAllocatesNothing: the fast path reuses the read loop's
// buffer; a query costs no allocation.
func TestPackedAnswerAllocatesNothing(t *testing.T) {
	z := labZoneParsed(t)
	wire := query(t, 1, SRVName(ServerService, testDomain), dns.TypeSRV, 1232, true, false)
	buf := make([]byte, 0, advertisedUDPSize)
	if n := testing.AllocsPerRun(100, func() {
		if resp, _ := z.answerPacked(wire, buf); resp == nil {
			t.Fatal("SRV query not packed")
		}
	}); n != 0 {
		t.Errorf("%v allocations per packed answer, want 0", n)
	}
}

// TestPackedAnswersLeaveTheRestToTheFullPath lists the queries the packed
// answers must not take: each needs the full path's filter, name handling,
// negative answers, TSIG or truncation.
func TestPackedAnswersLeaveTheRestToTheFullPath(t *testing.T) {
	z := labZoneParsed(t)
	const d = testDomain + "."
	srv := SRVName(ServerService, testDomain)
	edit := func(name string, qtype uint16, change func(m *dns.Msg)) []byte {
		m := new(dns.Msg).SetQuestion(name, qtype)
		change(m)
		wire, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return wire
	}
	plain := query(t, 1, srv, dns.TypeSRV, 0, true, false)
	tests := []struct {
		name string
		wire []byte
	}{
		{"mixed case", query(t, 1, strings.ToUpper(srv), dns.TypeSRV, 0, true, false)},
		{"NXDOMAIN", query(t, 1, "etcd9."+d, dns.TypeA, 0, true, false)},
		{"NODATA", query(t, 1, "etcd2."+d, dns.TypeAAAA, 0, true, false)},
		{"empty non-terminal", query(t, 1, "_tcp."+d, dns.TypeSRV, 0, true, false)},
		{"outside the zone", query(t, 1, "example.com.", dns.TypeA, 0, true, false)},
		{"zone transfer", query(t, 1, d, dns.TypeAXFR, 0, true, false)},
		{"class ANY", edit(srv, dns.TypeSRV, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassANY })},
		{"class CH", edit(srv, dns.TypeSRV, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS })},
		{"a response", edit(srv, dns.TypeSRV, func(m *dns.Msg) { m.Response = true })},
		{"opcode NOTIFY", edit(d, dns.TypeSOA, func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify })},
		{"two questions", edit(srv, dns.TypeSRV, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) })},
		{"TSIG signed", edit(srv, dns.TypeSRV, func(m *dns.Msg) { m.SetTsig("etcdboot-update.", dns.HmacSHA256, 300, time.Now().Unix()) })},
		{"EDNS0 version 1", edit(srv, dns.TypeSRV, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) })},
		{"EDNS0 with a cookie", edit(srv, dns.TypeSRV, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"})
		})},
		{"a record in the answer section", edit(srv, dns.TypeSRV, func(m *dns.Msg) { m.Answer = []dns.RR{mustRR(t, "x."+d+" 60 IN A 10.0.0.1")} })},
		{"too large for 512 bytes", query(t, 1, "many."+d, dns.TypeA, 0, false, false)},
		{"too large for an EDNS0 size below 512", query(t, 1, "many."+d, dns.TypeA, 100, false, false)},
		{"too large for 1232 bytes", query(t, 1, "lots."+d, dns.TypeA, 4096, false, false)},
		{"a trailing byte", append(slices.Clone(plain), 0)},
		{"cut short", plain[:len(plain)-1]},
		{"header only", plain[:12]},
		{"compressed question", append(append(slices.Clone(plain[:12]), 0xc0, 12), plain[len(plain)-4:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := z.answerPacked(tt.wire, nil); got != nil {
				t.Errorf("answered from the packed table: %x", got)
			}
		})
	}
}

// TestPackedAnswersFollowTheZone applies updates and checks what the new
// zone's packed table answers, and that the zone before is unchanged.
func TestPackedAnswersFollowTheZone(t *testing.T) {
	const d = testDomain + "."
	srv := SRVName(ServerService, testDomain)
	tests := []struct {
		name   string
		update func(t *testing.T, m *dns.Msg)
		qname  string
		qtype  uint16
		want   []string // the answer section's records; nil: not packed
		before []string // the same query on the zone before
	}{
		{"an added target joins the SRV answer", func(t *testing.T, m *dns.Msg) {
			m.Insert([]dns.RR{mustRR(t, "etcd4."+d+" 300 IN A 192.168.2.54"), mustRR(t, srv+" 300 IN SRV 0 0 2380 etcd4."+d)})
		}, srv, dns.TypeSRV, []string{"etcd1", "etcd2", "etcd3", "etcd4"}, []string{"etcd1", "etcd2", "etcd3"}},
		{"an added name is packed", func(t *testing.T, m *dns.Msg) {
			m.Insert([]dns.RR{mustRR(t, "etcd4."+d+" 300 IN A 192.168.2.54")})
		}, "etcd4." + d, dns.TypeA, []string{"192.168.2.54"}, nil},
		{"a deleted SRV record leaves the answer", func(t *testing.T, m *dns.Msg) {
			m.Remove([]dns.RR{mustRR(t, srv+" 0 IN SRV 0 0 2380 etcd3."+d)})
		}, srv, dns.TypeSRV, []string{"etcd1", "etcd2"}, []string{"etcd1", "etcd2", "etcd3"}},
		{"a deleted name is no longer packed", func(t *testing.T, m *dns.Msg) {
			m.RemoveName([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "etcd3." + d, Rrtype: dns.TypeANY, Class: dns.ClassANY}}})
		}, "etcd3." + d, dns.TypeA, nil, []string{"192.168.2.53"}},
		{"an owner in upper case is packed in lower case", func(t *testing.T, m *dns.Msg) {
			m.Insert([]dns.RR{mustRR(t, "ETCD4.Etcd.Example.Internal. 300 IN A 192.168.2.54")})
		}, "etcd4." + d, dns.TypeA, []string{"192.168.2.54"}, nil},
		{"a changed TTL is in the packed answer", func(t *testing.T, m *dns.Msg) {
			m.Insert([]dns.RR{mustRR(t, "etcd1."+d+" 42 IN A 192.168.2.51")})
		}, "etcd1." + d, dns.TypeA, []string{"192.168.2.51 ttl 42"}, []string{"192.168.2.51"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := labZoneParsed(t)
			up := new(dns.Msg).SetUpdate(d)
			tt.update(t, up)
			next, rcode, why := applyUpdate(z, up)
			if rcode != dns.RcodeSuccess || next == z {
				t.Fatalf("update: %s %s, zone changed %v", dns.RcodeToString[rcode], why, next != z)
			}
			wire := query(t, 7, tt.qname, tt.qtype, 1232, false, false)
			for _, c := range []struct {
				z    *Zone
				want []string
			}{{next, tt.want}, {z, tt.before}} {
				got, _ := c.z.answerPacked(wire, nil)
				if c.want == nil {
					if got != nil {
						t.Errorf("serial %d: packed answer %x, want none", c.z.Serial(), got)
					}
					continue
				}
				if want := fullPath(t, c.z, wire); !bytes.Equal(got, want) {
					t.Fatalf("serial %d: packed %x, full path %x", c.z.Serial(), got, want)
				}
				var resp dns.Msg
				if err := resp.Unpack(got); err != nil {
					t.Fatal(err)
				}
				if summary := answerSummary(resp.Answer); !slices.Equal(summary, c.want) {
					t.Errorf("serial %d: answers %v, want %v", c.z.Serial(), summary, c.want)
				}
			}
		})
	}
}

// answerSummary is each SRV's target host or each A's address, with its
// TTL when it is not the lab zone's 300.
func answerSummary(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		var s string
		switch rr := rr.(type) {
		case *dns.SRV:
			s = strings.TrimSuffix(rr.Target, "."+testDomain+".")
		case *dns.A:
			s = rr.A.String()
		default:
			s = rr.String()
		}
		if ttl := rr.Header().Ttl; ttl != 300 {
			s += " ttl " + strconv.FormatUint(uint64(ttl), 10)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// TestPackedAnswersAreCaseInsensitive checks that a question in another case
// than the owner's, left to the full path, gets the records of the packed
// answer.
func TestPackedAnswersAreCaseInsensitive(t *testing.T) {
	z := labZoneParsed(t)
	srv, etcd1 := SRVName(ServerService, testDomain), "etcd1."+testDomain+"."
	tests := []struct {
		name, asked string
		qtype       uint16
	}{
		{srv, strings.ToUpper(srv), dns.TypeSRV},
		{srv, "_etcd-server-ssl._TCP.Etcd.Example.Internal.", dns.TypeSRV},
		{etcd1, "ETCD1.etcd.example.internal.", dns.TypeA},
		{etcd1, "eTcD1.EtCd.ExAmPlE.InTeRnAl.", dns.TypeAAAA},
	}
	for _, tt := range tests {
		t.Run(tt.asked, func(t *testing.T) {
			packed, _ := z.answerPacked(query(t, 9, tt.name, tt.qtype, 1232, false, false), nil)
			if packed == nil {
				t.Fatalf("%s %s is not packed", tt.name, dns.Type(tt.qtype))
			}
			var want, got dns.Msg
			if err := want.Unpack(packed); err != nil {
				t.Fatal(err)
			}
			if err := got.Unpack(fullPath(t, z, query(t, 9, tt.asked, tt.qtype, 1232, false, false))); err != nil {
				t.Fatal(err)
			}
			if got.Rcode != dns.RcodeSuccess || !got.Authoritative || !slices.EqualFunc(got.Answer, want.Answer, dns.IsDuplicate) || !slices.EqualFunc(got.Extra, want.Extra, sameRecord) {
				t.Errorf("%s: %v %v, want the packed %v %v", dns.RcodeToString[got.Rcode], got.Answer, got.Extra, want.Answer, want.Extra)
			}
		})
	}
}

// sameRecord is dns.IsDuplicate, which does not compare OPT records.
func sameRecord(a, b dns.RR) bool {
	if a.Header().Rrtype == dns.TypeOPT {
		return b.Header().Rrtype == dns.TypeOPT && a.String() == b.String()
	}
	return dns.IsDuplicate(a, b)
}

// TestServerSwapsPackedAnswersWithEachUpdate queries over UDP while members
// register and leave: every response is one zone's whole answer (3 or 4
// targets, each with its addresses), and once an update is acknowledged
// the next query sees it.
func TestServerSwapsPackedAnswersWithEachUpdate(t *testing.T) {
	key := newTestKey(t)
	file := filepath.Join(t.TempDir(), testDomain+".zone")
	if err := os.WriteFile(file, labZone(t), 0o644); err != nil {
		t.Fatal(err)
	}
	// Logs at info: a debug line per query would flood the test's log.
	s, err := NewServer(ServerConfig{ZoneFile: file, Origin: testDomain, Listen: "127.0.0.1:0", TSIGKeys: []spec.TSIGKey{key},
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		conn, err := dns.Dial("udp", s.Addr())
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		m := new(dns.Msg).SetQuestion(SRVName(ServerService, testDomain), dns.TypeSRV)
		m.SetEdns0(1232, false)
		for ctx.Err() == nil {
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
			if err := conn.WriteMsg(m); err != nil {
				t.Error(err)
				return
			}
			resp, err := conn.ReadMsg()
			if err != nil {
				t.Error(err)
				return
			}
			n := len(resp.Answer)
			// etcd1-3 have an A and an AAAA each except etcd2 (lab zone),
			// etcd4 has both.
			if wantExtra := map[int]int{3: 4, 4: 6}[n]; wantExtra == 0 || len(resp.Extra)-1 != wantExtra {
				t.Errorf("a response with %d answers and %d additional records: %v", n, len(resp.Extra), resp)
				return
			}
		}
	})
	defer func() { cancel(); wg.Wait() }()
	for range 10 {
		if err := Register(ctx, s.Addr(), key, testDomain, etcd4, 2380, 2379, 60); err != nil {
			t.Fatal(err)
		}
		if got := lookup(t, s.Addr(), ServerService); len(got) != 4 {
			t.Fatalf("after Register: %v, want etcd1-4", hosts(got))
		}
		if err := Deregister(ctx, s.Addr(), key, testDomain, etcd4, 2380, 2379); err != nil {
			t.Fatal(err)
		}
		if got := lookup(t, s.Addr(), ServerService); len(got) != 3 {
			t.Fatalf("after Deregister: %v, want etcd1-3", hosts(got))
		}
	}
}

// TestServerRepliesFromTheAddressAsked listens on every address and asks on
// two loopback addresses over connected sockets, which take replies only
// from the address they sent to: packed and full answers leave from the
// address the query came to.
func TestServerRepliesFromTheAddressAsked(t *testing.T) {
	file := filepath.Join(t.TempDir(), testDomain+".zone")
	if err := os.WriteFile(file, labZone(t), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(ServerConfig{ZoneFile: file, Origin: testDomain, Listen: "0.0.0.0:0", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	_, port, _ := net.SplitHostPort(s.Addr())
	for _, host := range []string{"127.0.0.1", "127.0.0.2"} {
		addr := net.JoinHostPort(host, port)
		if resp := ask(t, addr, "udp", SRVName(ServerService, testDomain), dns.TypeSRV, 0); len(resp.Answer) != 3 {
			t.Errorf("%s: packed SRV answer %v, want 3 records", addr, resp.Answer)
		}
		if resp := ask(t, addr, "udp", "etcd9."+testDomain, dns.TypeA, 0); resp.Rcode != dns.RcodeNameError {
			t.Errorf("%s: %s, want NXDOMAIN from the full path", addr, dns.RcodeToString[resp.Rcode])
		}
	}
}
