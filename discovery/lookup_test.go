package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// zoneWithTargets serves n targets etcdNN, each with one address, plus
// etcd-noaddr when orphan is set: an SRV target without address records.
func zoneWithTargets(t *testing.T, n int, orphan bool) []byte {
	t.Helper()
	var ts []Target
	addrs := manyAddrs(n)
	for i := range n {
		ts = append(ts, Target{Host: fmt.Sprintf("etcd%02d.%s.", i, testDomain), Addrs: addrs[i : i+1]})
	}
	if orphan {
		ts = append(ts, Target{Host: "etcd-noaddr." + testDomain + "."})
	}
	var buf bytes.Buffer
	if err := WriteZone(&buf, testDomain, Records(testDomain, ts, 2380, 2379, 300), 1, testZoneOptions()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lookupErr(t *testing.T, addr, domain string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peers, err := LookupSRV(ctx, addr, ServerService, domain)
	if err == nil {
		t.Fatalf("LookupSRV %s = %v, want an error", domain, hosts(peers))
	}
	return err
}

func TestLookupSRVReturnsPeersInOrder(t *testing.T) {
	s, _ := startServer(t, labZone(t))
	peers := lookup(t, s.Addr(), ServerService)
	want := []string{"etcd1.etcd.example.internal.", "etcd2.etcd.example.internal.", "etcd3.etcd.example.internal."}
	if got := hosts(peers); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("peers %v, want %v", got, want)
	}
	if p := peers[0]; p.Port != 2380 || len(p.Addrs) != 2 || p.Addrs[0].String() != "192.168.2.51" || p.Addrs[1].String() != "2001:db8::51" {
		t.Errorf("etcd1 = %+v, want port 2380 at 192.168.2.51 and 2001:db8::51", p)
	}
}

func TestLookupSRVExplainsMissingRecords(t *testing.T) {
	s, _ := startServer(t, zoneWithTargets(t, 2, true))
	tests := []struct {
		name   string
		domain string
		is     error
		want   []string
	}{
		{"NXDOMAIN", "nothere." + testDomain, ErrNoSRV, []string{
			"no SRV records for _etcd-server-ssl._tcp.nothere.etcd.example.internal.",
			"NXDOMAIN", "is the zone loaded / the domain right?"}},
		{"target without address", testDomain, ErrNoAddress, []string{
			"SRV target etcd-noaddr.etcd.example.internal. has no A or AAAA record", s.Addr()}},
		{"server not authoritative", "example.com", nil, []string{"refused", "discovery.dns.server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := lookupErr(t, s.Addr(), tt.domain)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLookupSRVReportsUnreachableServer(t *testing.T) {
	addr := closedPort(t)
	start := time.Now()
	err := lookupErr(t, addr, testDomain)
	if !errors.Is(err, ErrServerUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Errorf("error %v, want ErrServerUnreachable naming %s", err, addr)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %v to notice nothing listens", d)
	}
}

func TestLookupSRVRetriesTruncatedAnswerOverTCP(t *testing.T) {
	s, _ := startServer(t, zoneWithTargets(t, 60, false))
	// Precondition: over UDP, even with EDNS0, the answer is truncated.
	if resp := ask(t, s.Addr(), "udp", SRVName(ServerService, testDomain), dns.TypeSRV, lookupUDPSize); !resp.Truncated {
		t.Fatalf("test needs an SRV answer truncated over UDP; got %d answers", len(resp.Answer))
	}
	peers := lookup(t, s.Addr(), ServerService)
	if len(peers) != 60 {
		t.Fatalf("%d peers, want 60", len(peers))
	}
	for _, p := range peers {
		if len(p.Addrs) != 1 {
			t.Errorf("peer %s has addresses %v, want one", p.Host, p.Addrs)
		}
	}
}

func TestLookupSRVResolvesTargetsMissingFromAdditional(t *testing.T) {
	s, _ := startServer(t, zoneWithTargets(t, 22, false))
	// Precondition: the answer fits, not all addresses do.
	resp := ask(t, s.Addr(), "udp", SRVName(ServerService, testDomain), dns.TypeSRV, lookupUDPSize)
	if resp.Truncated || len(resp.Answer) != 22 || countType(resp.Extra, dns.TypeA) >= 22 {
		t.Fatalf("test needs 22 SRV answers without TC and some addresses left out: TC=%v, %d answers, %d A", resp.Truncated, len(resp.Answer), countType(resp.Extra, dns.TypeA))
	}
	peers := lookup(t, s.Addr(), ServerService)
	if len(peers) != 22 {
		t.Fatalf("%d peers, want 22", len(peers))
	}
	for _, p := range peers {
		if len(p.Addrs) != 1 {
			t.Errorf("peer %s has addresses %v, want one", p.Host, p.Addrs)
		}
	}
}

func TestServerAddress(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("# lab\nsearch example.internal\nnameserver 10.123.0.2\nnameserver 10.123.0.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.conf")
	if err := os.WriteFile(empty, []byte("search example.internal\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		server, resolvConf, want, err string
	}{
		{"10.123.0.2:5353", conf, "10.123.0.2:5353", ""},
		{"10.123.0.2", conf, "10.123.0.2:53", ""},
		{"[2001:db8::2]:53", conf, "[2001:db8::2]:53", ""},
		{"2001:db8::2", conf, "[2001:db8::2]:53", ""},
		{"ns1.example.internal", conf, "ns1.example.internal:53", ""},
		{"", conf, "10.123.0.2:53", ""},
		{"", empty, "", "lists no nameserver"},
		{"", filepath.Join(t.TempDir(), "missing"), "", "unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.server+"|"+filepath.Base(tt.resolvConf), func(t *testing.T) {
			old := resolvConfPath
			resolvConfPath = tt.resolvConf
			defer func() { resolvConfPath = old }()
			got, err := serverAddress(tt.server)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("serverAddress(%q) = %q, %v; want error containing %q", tt.server, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("serverAddress(%q) = %q, %v; want %q", tt.server, got, err, tt.want)
			}
		})
	}
}
