package discovery

import (
	"bytes"
	"errors"
	"flag"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const testDomain = "etcd.example.internal"

// threeMembers is the cluster of the manual procedure, plus an IPv6 address.
func threeMembers() []spec.Member {
	return []spec.Member{
		{Name: "etcd1", IPs: []string{"192.168.2.51", "2001:db8::51"}},
		{Name: "etcd2", IPs: []string{"192.168.2.52"}, FQDN: "etcd2.etcd.example.internal"},
		{Name: "etcd3", IPs: []string{"192.168.2.53"}},
	}
}

func threeTargets() []Target {
	var ts []Target
	for _, m := range threeMembers() {
		ts = append(ts, TargetFor(m, testDomain))
	}
	return ts
}

func testZoneOptions() ZoneOptions {
	return ZoneOptions{NameserverAddrs: []netip.Addr{netip.MustParseAddr("192.168.2.2")}}
}

// writeTestZone renders the three-member zone.
func writeTestZone(t testing.TB, targets []Target, serial uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	rrs := Records(testDomain, targets, 2380, 2379, 300)
	if err := WriteZone(&buf, testDomain, rrs, serial, testZoneOptions()); err != nil {
		t.Fatalf("WriteZone: %v", err)
	}
	return buf.Bytes()
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	return out
}

func TestTargetForUsesFQDNOrNameUnderDomain(t *testing.T) {
	tests := []struct {
		name   string
		member spec.Member
		want   Target
	}{
		{"name under domain", spec.Member{Name: "etcd1", IPs: []string{"10.0.0.1"}},
			Target{Host: "etcd1.etcd.example.internal.", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}},
		{"fqdn wins", spec.Member{Name: "etcd1", FQDN: "Node1.Example.COM", IPs: []string{"::ffff:10.0.0.1", "fe80::1%eth0"}},
			Target{Host: "node1.example.com.", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fe80::1")}}},
		{"bad IP left out", spec.Member{Name: "e", IPs: []string{"10.0.0.300"}},
			Target{Host: "e.etcd.example.internal."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TargetFor(tt.member, testDomain+".")
			if got.Host != tt.want.Host || !slices.Equal(got.Addrs, tt.want.Addrs) {
				t.Errorf("TargetFor = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRecordsForThreeMembers(t *testing.T) {
	got := rrStrings(Records(testDomain, threeTargets(), 2380, 2379, 300))
	want := []string{
		"_etcd-server-ssl._tcp.etcd.example.internal.\t300\tIN\tSRV\t0 0 2380 etcd1.etcd.example.internal.",
		"_etcd-server-ssl._tcp.etcd.example.internal.\t300\tIN\tSRV\t0 0 2380 etcd2.etcd.example.internal.",
		"_etcd-server-ssl._tcp.etcd.example.internal.\t300\tIN\tSRV\t0 0 2380 etcd3.etcd.example.internal.",
		"_etcd-client-ssl._tcp.etcd.example.internal.\t300\tIN\tSRV\t0 0 2379 etcd1.etcd.example.internal.",
		"_etcd-client-ssl._tcp.etcd.example.internal.\t300\tIN\tSRV\t0 0 2379 etcd2.etcd.example.internal.",
		"_etcd-client-ssl._tcp.etcd.example.internal.\t300\tIN\tSRV\t0 0 2379 etcd3.etcd.example.internal.",
		"etcd1.etcd.example.internal.\t300\tIN\tA\t192.168.2.51",
		"etcd1.etcd.example.internal.\t300\tIN\tAAAA\t2001:db8::51",
		"etcd2.etcd.example.internal.\t300\tIN\tA\t192.168.2.52",
		"etcd3.etcd.example.internal.\t300\tIN\tA\t192.168.2.53",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Records =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRecordsDoNotDependOnTargetOrder(t *testing.T) {
	want := rrStrings(Records(testDomain, threeTargets(), 2380, 2379, 300))
	for i := range 10 {
		ts := threeTargets()
		r := rand.New(rand.NewPCG(uint64(i), 1))
		r.Shuffle(len(ts), func(a, b int) { ts[a], ts[b] = ts[b], ts[a] })
		slices.Reverse(ts[0].Addrs)
		if got := rrStrings(Records(testDomain, ts, 2380, 2379, 300)); !slices.Equal(got, want) {
			t.Fatalf("order %d: Records =\n%s\nwant\n%s", i, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

func TestWriteZoneMatchesGolden(t *testing.T) {
	got := writeTestZone(t, threeTargets(), 2024010101)
	golden := filepath.Join("testdata", testDomain+".zone")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("WriteZone output differs from %s (go test -update rewrites it):\n%s", golden, got)
	}
}

func TestParseZoneReadsWrittenZoneBack(t *testing.T) {
	text := writeTestZone(t, threeTargets(), 2024010101)
	z, err := ParseZone(bytes.NewReader(text), testDomain, "written.zone")
	if err != nil {
		t.Fatalf("ParseZone: %v", err)
	}
	want := []string{
		"etcd.example.internal.\t3600\tIN\tSOA\tns1.etcd.example.internal. hostmaster.etcd.example.internal. 2024010101 3600 600 1209600 60",
		"etcd.example.internal.\t3600\tIN\tNS\tns1.etcd.example.internal.",
		"ns1.etcd.example.internal.\t3600\tIN\tA\t192.168.2.2",
	}
	want = append(want, rrStrings(Records(testDomain, threeTargets(), 2380, 2379, 300))...)
	got := rrStrings(z.Records())
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("zone read back =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if z.Serial() != 2024010101 || z.Origin() != testDomain+"." {
		t.Errorf("serial %d origin %s, want 2024010101 %s.", z.Serial(), z.Origin(), testDomain)
	}
	// Written again, the zone is the same text.
	var again bytes.Buffer
	if _, err := z.WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), text) {
		t.Errorf("rewritten zone differs:\n%s\nwant\n%s", again.Bytes(), text)
	}
}

func TestWriteZoneWantsNameserverAddress(t *testing.T) {
	err := WriteZone(&bytes.Buffer{}, testDomain, nil, 1, ZoneOptions{})
	if err == nil || !strings.Contains(err.Error(), "NameserverAddrs") {
		t.Fatalf("WriteZone without nameserver address: err = %v, want one naming NameserverAddrs", err)
	}
	// A nameserver outside the zone needs no address here.
	if err := WriteZone(&bytes.Buffer{}, testDomain, nil, 1, ZoneOptions{Nameserver: "ns.example.com"}); err != nil {
		t.Fatalf("WriteZone with an out-of-zone nameserver: %v", err)
	}
}

const zoneHead = "$ORIGIN etcd.example.internal.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 1209600 60\n@ IN NS ns1\nns1 IN A 192.168.2.2\n"

func TestParseZoneSyntaxErrorNamesLine(t *testing.T) {
	tests := []struct {
		name    string
		tail    string // after zoneHead's five lines
		line    int
		problem string
	}{
		{"bad IPv4", "etcd1 IN A 192.168.2.300\n", 6, "bad A"},
		{"unknown type", "\netcd1 IN BOGUS 1\n", 7, ""},
		{"SRV without target", "_etcd-server-ssl._tcp IN SRV 0 0 2380\n", 6, "SRV"},
		{"$INCLUDE refused", "$INCLUDE /etc/passwd\n", 6, "$INCLUDE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseZone(strings.NewReader(zoneHead+tt.tail), testDomain, "lab.zone")
			var se *ZoneSyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("ParseZone error = %v, want a *ZoneSyntaxError", err)
			}
			if se.File != "lab.zone" || se.Line != tt.line {
				t.Errorf("error at %s:%d, want lab.zone:%d (%v)", se.File, se.Line, tt.line, err)
			}
			if prefix := "lab.zone:" + strconv.Itoa(tt.line) + ":"; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			if !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("error %q does not mention %q", err, tt.problem)
			}
		})
	}
}

func TestParseZoneReportsEveryProblem(t *testing.T) {
	text := "$ORIGIN etcd.example.internal.\n$TTL 300\n" +
		"www IN CNAME etcd1\nwww IN A 10.0.0.1\n" +
		"etcd1.example.com. IN A 10.0.0.2\n" +
		"etcd2 CH A 10.0.0.3\n"
	_, err := ParseZone(strings.NewReader(text), testDomain, "bad.zone")
	if err == nil {
		t.Fatal("ParseZone accepted a zone without SOA and NS, with a CNAME beside an A and a foreign name")
	}
	for _, want := range []string{"bad.zone: ", "no SOA", "outside zone", "class CH", "CNAME and other records"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// FuzzParseZone: ParseZone never panics, and a zone it accepts is written
// and read back unchanged (the server relies on that to persist updates).
func FuzzParseZone(f *testing.F) {
	f.Add(writeTestZone(f, threeTargets(), 1))
	f.Add([]byte(zoneHead))
	f.Fuzz(func(t *testing.T, text []byte) {
		z, err := ParseZone(bytes.NewReader(text), testDomain, "fuzz.zone")
		if err != nil {
			var se *ZoneSyntaxError
			if errors.As(err, &se) && (se.File != "fuzz.zone" || se.Problem == "" || !strings.HasPrefix(err.Error(), "fuzz.zone:")) {
				t.Fatalf("syntax error without file or problem: %#v", se)
			}
			return
		}
		var first bytes.Buffer
		if _, err := z.WriteTo(&first); err != nil {
			t.Fatal(err)
		}
		back, err := ParseZone(bytes.NewReader(first.Bytes()), testDomain, "rewritten.zone")
		if err != nil {
			t.Fatalf("written zone does not parse: %v\n%s", err, first.Bytes())
		}
		if a, b := rrStrings(z.Records()), rrStrings(back.Records()); !slices.Equal(a, b) {
			t.Fatalf("zone changed on rewrite:\n%s\nbecame\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
		}
		var second bytes.Buffer
		if _, err := back.WriteTo(&second); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("zone text not stable:\n%s\nthen\n%s", first.Bytes(), second.Bytes())
		}
	})
}
