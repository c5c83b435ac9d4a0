package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/spec"
)

// manyAddrs returns n IPv4 addresses 10.1.x.y.
func manyAddrs(n int) []netip.Addr {
	var out []netip.Addr
	for i := range n {
		out = append(out, netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}))
	}
	return out
}

// labZone is the three-member zone plus two names with many A records: 64
// (fits in an EDNS0 answer, not in 512 bytes) and 100 (fits only over TCP).
func labZone(t testing.TB) []byte {
	t.Helper()
	rrs := Records(testDomain, threeTargets(), 2380, 2379, 300)
	rrs = append(rrs, addressRecords("many."+testDomain+".", manyAddrs(64), 300)...)
	rrs = append(rrs, addressRecords("lots."+testDomain+".", manyAddrs(100), 300)...)
	var buf bytes.Buffer
	opts := ZoneOptions{NameserverAddrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	if err := WriteZone(&buf, testDomain, rrs, 1, opts); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testLogger logs to the test's output: shown when a test fails or with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startServer serves zone (written to a fresh zone file) on 127.0.0.1:0 and
// shuts it down when the test ends.
func startServer(t testing.TB, zone []byte, keys ...spec.TSIGKey) (*Server, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), testDomain+".zone")
	if err := os.WriteFile(file, zone, 0o644); err != nil {
		t.Fatal(err)
	}
	return startServerOn(t, file, keys...), file
}

func startServerOn(t testing.TB, file string, keys ...spec.TSIGKey) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{ZoneFile: file, Origin: testDomain, Listen: "127.0.0.1:0", TSIGKeys: keys, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, ErrServerClosed) {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// ask sends one query; edns 0 sends none (a 512-byte client).
func ask(t testing.TB, addr, network, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: network, Timeout: 3 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s %s: %v", network, name, dns.Type(qtype), err)
	}
	return resp
}

func countType(rrs []dns.RR, t uint16) int {
	n := 0
	for _, rr := range rrs {
		if rr.Header().Rrtype == t {
			n++
		}
	}
	return n
}

func TestServerAnswersAuthoritatively(t *testing.T) {
	s, _ := startServer(t, labZone(t))
	const d = testDomain + "."
	tests := []struct {
		name     string
		qname    string
		qtype    uint16
		rcode    int
		aa       bool
		answers  int
		extra    int  // A/AAAA records in the additional section
		negative bool // SOA in the authority section
	}{
		{"server SRV with target addresses", "_etcd-server-ssl._tcp." + d, dns.TypeSRV, dns.RcodeSuccess, true, 3, 4, false},
		{"client SRV", "_etcd-client-ssl._tcp." + d, dns.TypeSRV, dns.RcodeSuccess, true, 3, 4, false},
		{"A", "etcd1." + d, dns.TypeA, dns.RcodeSuccess, true, 1, 0, false},
		{"AAAA", "etcd1." + d, dns.TypeAAAA, dns.RcodeSuccess, true, 1, 0, false},
		{"names are case-insensitive", "ETCD1.Etcd.Example.INTERNAL.", dns.TypeA, dns.RcodeSuccess, true, 1, 0, false},
		{"SOA", d, dns.TypeSOA, dns.RcodeSuccess, true, 1, 0, false},
		{"NS with glue", d, dns.TypeNS, dns.RcodeSuccess, true, 1, 1, false},
		{"ANY", "etcd1." + d, dns.TypeANY, dns.RcodeSuccess, true, 2, 0, false},
		{"NODATA: name without the type", "etcd2." + d, dns.TypeAAAA, dns.RcodeSuccess, true, 0, 0, true},
		{"NODATA: empty non-terminal", "_tcp." + d, dns.TypeSRV, dns.RcodeSuccess, true, 0, 0, true},
		{"NXDOMAIN", "etcd9." + d, dns.TypeA, dns.RcodeNameError, true, 0, 0, true},
		{"NXDOMAIN below a name", "x.etcd1." + d, dns.TypeA, dns.RcodeNameError, true, 0, 0, true},
		{"REFUSED outside the zone", "example.com.", dns.TypeA, dns.RcodeRefused, false, 0, 0, false},
		{"REFUSED for the parent", "example.internal.", dns.TypeSOA, dns.RcodeRefused, false, 0, 0, false},
		{"REFUSED zone transfer", d, dns.TypeAXFR, dns.RcodeRefused, false, 0, 0, false},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			if tt.qtype == dns.TypeAXFR && network == "udp" {
				continue
			}
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				resp := ask(t, s.Addr(), network, tt.qname, tt.qtype, 0)
				if resp.Rcode != tt.rcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
				}
				if resp.Authoritative != tt.aa {
					t.Errorf("AA = %v, want %v", resp.Authoritative, tt.aa)
				}
				if resp.RecursionAvailable {
					t.Error("RA set: the server does not recurse")
				}
				if len(resp.Answer) != tt.answers {
					t.Errorf("%d answers, want %d: %v", len(resp.Answer), tt.answers, resp.Answer)
				}
				if n := countType(resp.Extra, dns.TypeA) + countType(resp.Extra, dns.TypeAAAA); n != tt.extra {
					t.Errorf("%d addresses in the additional section, want %d: %v", n, tt.extra, resp.Extra)
				}
				gotNegative := len(resp.Ns) == 1 && resp.Ns[0].Header().Rrtype == dns.TypeSOA
				if gotNegative != tt.negative {
					t.Errorf("authority %v; want the SOA there: %v", resp.Ns, tt.negative)
				}
				if gotNegative && resp.Ns[0].Header().Ttl != 60 {
					t.Errorf("negative SOA TTL %d, want the SOA minimum 60", resp.Ns[0].Header().Ttl)
				}
				if resp.Truncated {
					t.Error("TC set on a small answer")
				}
			})
		}
	}
}

func TestServerTruncatesOverUDPAndAnswersInFullOverTCP(t *testing.T) {
	s, _ := startServer(t, labZone(t))
	tests := []struct {
		name      string
		network   string
		qname     string
		edns      uint16
		truncated bool
		answers   int
	}{
		{"512-byte UDP client", "udp", "many." + testDomain, 0, true, 0},
		{"EDNS0 4096 UDP client gets it whole", "udp", "many." + testDomain, 4096, false, 64},
		{"EDNS0 capped at 1232 bytes", "udp", "lots." + testDomain, 4096, true, 0},
		{"EDNS0 below 512 counts as 512", "udp", "many." + testDomain, 100, true, 0},
		{"TCP", "tcp", "many." + testDomain, 0, false, 64},
		{"TCP, larger", "tcp", "lots." + testDomain, 0, false, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ask(t, s.Addr(), tt.network, tt.qname, dns.TypeA, tt.edns)
			if resp.Truncated != tt.truncated || len(resp.Answer) != tt.answers {
				t.Errorf("TC=%v with %d answers, want TC=%v with %d", resp.Truncated, len(resp.Answer), tt.truncated, tt.answers)
			}
			if resp.Rcode != dns.RcodeSuccess || !resp.Authoritative {
				t.Errorf("rcode %s AA %v, want NOERROR and AA", dns.RcodeToString[resp.Rcode], resp.Authoritative)
			}
			if tt.edns > 0 && resp.IsEdns0() == nil {
				t.Error("EDNS0 query answered without OPT")
			}
		})
	}
}

func TestFitResponseDropsAdditionalBeforeTruncating(t *testing.T) {
	var ts []Target
	// SRV targets are never compressed (RFC 2782): eight make ~440 bytes.
	for i := range 8 {
		ts = append(ts, Target{Host: fmt.Sprintf("etcd%02d.%s.", i, testDomain), Addrs: manyAddrs(i + 1)[i:]})
	}
	var buf bytes.Buffer
	if err := WriteZone(&buf, testDomain, Records(testDomain, ts, 2380, 2379, 300), 1, testZoneOptions()); err != nil {
		t.Fatal(err)
	}
	z, err := ParseZone(&buf, testDomain, "fit.zone")
	if err != nil {
		t.Fatal(err)
	}
	req := new(dns.Msg).SetQuestion(SRVName(ServerService, testDomain), dns.TypeSRV)
	resp := answerQuery(z, req)
	if len(resp.Extra) != 8 || resp.Len() <= dns.MinMsgSize {
		t.Fatalf("test needs an answer that fits 512 bytes only without its 8 addresses: %d bytes, %d extra", resp.Len(), len(resp.Extra))
	}
	fitResponse(resp, dns.MinMsgSize)
	if resp.Truncated || len(resp.Answer) != 8 {
		t.Errorf("TC=%v with %d answers, want all 8 answers and no TC", resp.Truncated, len(resp.Answer))
	}
	if len(resp.Extra) == 0 || len(resp.Extra) == 8 || resp.Len() > dns.MinMsgSize {
		t.Errorf("%d additional records in %d bytes, want some of the 8 dropped to fit 512", len(resp.Extra), resp.Len())
	}
}

func TestServerRefusesMalformedAndUnknownOpcodes(t *testing.T) {
	s, _ := startServer(t, labZone(t))
	m := new(dns.Msg).SetNotify(testDomain + ".")
	m.Opcode = dns.OpcodeStatus
	resp, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rcode != dns.RcodeNotImplemented {
		t.Errorf("STATUS opcode: rcode %s, want NOTIMP", dns.RcodeToString[resp.Rcode])
	}
	m = new(dns.Msg).SetQuestion("etcd1."+testDomain+".", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().SetVersion(1)
	resp, _, err = (&dns.Client{Timeout: 3 * time.Second}).Exchange(m, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rcode != dns.RcodeBadVers {
		t.Errorf("EDNS version 1: rcode %s, want BADVERS", dns.RcodeToString[resp.Rcode])
	}
}

func TestServerShutdownIsGraceful(t *testing.T) {
	s, _ := startServer(t, labZone(t))
	addr := s.Addr()
	// A client keeps a TCP connection open after its answer: Shutdown must
	// not wait for the idle timeout.
	conn, err := dns.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteMsg(new(dns.Msg).SetQuestion("etcd1."+testDomain+".", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if resp, err := conn.ReadMsg(); err != nil || len(resp.Answer) != 1 {
		t.Fatalf("answer over TCP: %v, %v", resp, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with an idle TCP client", d)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.ReadMsg(); err == nil {
		t.Error("idle TCP connection still open after Shutdown")
	}
	c := &dns.Client{Net: "udp", Timeout: 500 * time.Millisecond}
	if _, _, err := c.Exchange(new(dns.Msg).SetQuestion("etcd1."+testDomain+".", dns.TypeA), addr); err == nil {
		t.Error("UDP query answered after Shutdown")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("TCP connection accepted after Shutdown")
	}
	if err := s.Shutdown(ctx); !errors.Is(err, ErrServerClosed) {
		t.Errorf("second Shutdown = %v, want ErrServerClosed", err)
	}
	if err := s.Start(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Start after Shutdown = %v, want ErrServerClosed", err)
	}
}

func TestNewServerReportsBadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ok.zone")
	if err := os.WriteFile(good, labZone(t), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.zone")
	if err := os.WriteFile(bad, []byte(zoneHead+"etcd1 IN A 1.2.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  ServerConfig
		want string
	}{
		{"no origin", ServerConfig{ZoneFile: good}, "Origin is empty"},
		{"no zone file", ServerConfig{Origin: testDomain}, "ZoneFile is empty"},
		{"missing zone file", ServerConfig{Origin: testDomain, ZoneFile: filepath.Join(dir, "nope")}, "no such file"},
		{"syntax error names the line", ServerConfig{Origin: testDomain, ZoneFile: bad}, bad + ":6:"},
		{"bad key secret", ServerConfig{Origin: testDomain, ZoneFile: good, TSIGKeys: []spec.TSIGKey{{Name: "k", Secret: "not base64!"}}}, "not base64"},
		{"bad key algorithm", ServerConfig{Origin: testDomain, ZoneFile: good, TSIGKeys: []spec.TSIGKey{{Name: "k", Algorithm: "hmac-md5", Secret: "c2VjcmV0"}}}, "not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewServer(tt.cfg)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Errorf("NewServer error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// BenchmarkServeSRV measures SRV queries answered per second over loopback
// UDP, one query in flight at a time.
func BenchmarkServeSRV(b *testing.B) {
	file := filepath.Join(b.TempDir(), testDomain+".zone")
	if err := os.WriteFile(file, labZone(b), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := NewServer(ServerConfig{ZoneFile: file, Origin: testDomain, Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	conn, err := dns.Dial("udp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg).SetQuestion(SRVName(ServerService, testDomain), dns.TypeSRV)
	b.ReportAllocs()
	for b.Loop() {
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if err := conn.WriteMsg(m); err != nil {
			b.Fatal(err)
		}
		resp, err := conn.ReadMsg()
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.Answer) != 3 {
			b.Fatalf("%d answers, want 3", len(resp.Answer))
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queries/s")
}
