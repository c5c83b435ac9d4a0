package discovery

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/spec"
)

func newTestKey(t testing.TB) spec.TSIGKey {
	t.Helper()
	k, err := NewTSIGKey("etcdboot-update")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var etcd4 = Target{
	Host:  "etcd4.etcd.example.internal.",
	Addrs: []netip.Addr{netip.MustParseAddr("192.168.2.54"), netip.MustParseAddr("2001:db8::54")},
}

func lookup(t *testing.T, addr, service string) []Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peers, err := LookupSRV(ctx, addr, service, testDomain)
	if err != nil {
		t.Fatalf("LookupSRV %s: %v", service, err)
	}
	return peers
}

func hosts(peers []Peer) []string {
	var out []string
	for _, p := range peers {
		out = append(out, p.Host)
	}
	return out
}

func findPeer(peers []Peer, host string) (Peer, bool) {
	i := slices.IndexFunc(peers, func(p Peer) bool { return p.Host == host })
	if i < 0 {
		return Peer{}, false
	}
	return peers[i], true
}

func TestNewTSIGKeyIsRandomHMACSHA256(t *testing.T) {
	a, b := newTestKey(t), newTestKey(t)
	if a.Name != "etcdboot-update." || a.Algorithm != "hmac-sha256" {
		t.Errorf("key %s/%s, want etcdboot-update./hmac-sha256", a.Name, a.Algorithm)
	}
	k, err := parseTSIGKey(a)
	if err != nil || len(k.secret) != 32 {
		t.Fatalf("secret: %d bytes, %v; want 32", len(k.secret), err)
	}
	if a.Secret == b.Secret {
		t.Error("two keys share a secret")
	}
	if _, err := NewTSIGKey("bad name..x"); err == nil {
		t.Error("NewTSIGKey accepted a bad name")
	}
}

func TestRegisterThenLookupSeesTarget(t *testing.T) {
	key := newTestKey(t)
	s, _ := startServer(t, labZone(t), key)
	before := s.Zone().Serial()
	ctx := context.Background()
	if err := Register(ctx, s.Addr(), key, testDomain, etcd4, 2380, 2379, 60); err != nil {
		t.Fatalf("Register: %v", err)
	}
	for _, svc := range []struct {
		name string
		port uint16
	}{{ServerService, 2380}, {ClientService, 2379}} {
		peers := lookup(t, s.Addr(), svc.name)
		p, ok := findPeer(peers, etcd4.Host)
		if !ok || len(peers) != 4 {
			t.Fatalf("%s peers %v, want etcd1-4", svc.name, hosts(peers))
		}
		if p.Port != svc.port || !slices.Equal(p.Addrs, etcd4.Addrs) {
			t.Errorf("%s peer %+v, want port %d and %v", svc.name, p, svc.port, etcd4.Addrs)
		}
	}
	if got := s.Zone().Serial(); got != before+1 {
		t.Errorf("serial %d after one update, want %d", got, before+1)
	}
	// Registering again changes nothing, not even the serial.
	if err := Register(ctx, s.Addr(), key, testDomain, etcd4, 2380, 2379, 60); err != nil {
		t.Fatalf("Register again: %v", err)
	}
	if got := s.Zone().Serial(); got != before+1 {
		t.Errorf("serial %d after a repeated registration, want %d", got, before+1)
	}
}

func TestRegisterReplacesTheTargetsAddresses(t *testing.T) {
	key := newTestKey(t)
	s, _ := startServer(t, labZone(t), key)
	ctx := context.Background()
	if err := Register(ctx, s.Addr(), key, testDomain, etcd4, 2380, 2379, 60); err != nil {
		t.Fatal(err)
	}
	moved := Target{Host: etcd4.Host, Addrs: []netip.Addr{netip.MustParseAddr("192.168.2.64")}}
	if err := Register(ctx, s.Addr(), key, testDomain, moved, 2380, 2379, 60); err != nil {
		t.Fatal(err)
	}
	p, _ := findPeer(lookup(t, s.Addr(), ServerService), etcd4.Host)
	if !slices.Equal(p.Addrs, moved.Addrs) {
		t.Errorf("addresses after re-registration %v, want only %v", p.Addrs, moved.Addrs)
	}
}

func TestDeregisterRemovesOnlyThatTarget(t *testing.T) {
	key := newTestKey(t)
	s, _ := startServer(t, labZone(t), key)
	ctx := context.Background()
	want := s.Zone().Records()[1:] // all but the SOA, whose serial moves
	if err := Register(ctx, s.Addr(), key, testDomain, etcd4, 2380, 2379, 300); err != nil {
		t.Fatal(err)
	}
	if err := Deregister(ctx, s.Addr(), key, testDomain, etcd4, 2380, 2379); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if got := hosts(lookup(t, s.Addr(), ServerService)); slices.Contains(got, etcd4.Host) || len(got) != 3 {
		t.Errorf("peers after Deregister %v, want etcd1-3", got)
	}
	if resp := ask(t, s.Addr(), "udp", etcd4.Host, dns.TypeA, 0); resp.Rcode != dns.RcodeNameError {
		t.Errorf("A %s after Deregister: %s, want NXDOMAIN", etcd4.Host, dns.RcodeToString[resp.Rcode])
	}
	if got := rrStrings(s.Zone().Records()[1:]); !slices.Equal(got, rrStrings(want)) {
		t.Errorf("zone after register+deregister:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(rrStrings(want), "\n"))
	}
	// Without addresses, Deregister drops all of the host's A/AAAA records.
	etcd1 := Target{Host: "etcd1." + testDomain + "."}
	if err := Deregister(ctx, s.Addr(), key, testDomain, etcd1, 2380, 2379); err != nil {
		t.Fatal(err)
	}
	if resp := ask(t, s.Addr(), "udp", etcd1.Host, dns.TypeAAAA, 0); resp.Rcode != dns.RcodeNameError {
		t.Errorf("AAAA %s after Deregister: %s, want NXDOMAIN", etcd1.Host, dns.RcodeToString[resp.Rcode])
	}
	// Removing what is gone is fine.
	if err := Deregister(ctx, s.Addr(), key, testDomain, etcd4, 2380, 2379); err != nil {
		t.Errorf("second Deregister: %v", err)
	}
}

func TestUnauthorisedUpdatesAreRefused(t *testing.T) {
	key := newTestKey(t)
	s, file := startServer(t, labZone(t), key)
	before, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	other := newTestKey(t)
	renamed := key
	renamed.Name = "someone-else."
	sha512 := key
	sha512.Algorithm = "hmac-sha512"
	tests := []struct {
		name string
		key  spec.TSIGKey
		want string
	}{
		{"wrong secret", spec.TSIGKey{Name: key.Name, Algorithm: key.Algorithm, Secret: other.Secret}, "NOTAUTH/BADSIG"},
		{"unknown key", renamed, "NOTAUTH/BADKEY"},
		{"algorithm other than the key's", sha512, "NOTAUTH/BADKEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Register(context.Background(), s.Addr(), tt.key, testDomain, etcd4, 2380, 2379, 60)
			if !errors.Is(err, ErrUpdateRejected) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Register = %v, want ErrUpdateRejected with %s", err, tt.want)
			}
		})
	}
	t.Run("unsigned", func(t *testing.T) {
		m := new(dns.Msg).SetUpdate(testDomain + ".")
		m.Insert(addressRecords(etcd4.Host, etcd4.Addrs, 60))
		resp, _, err := (&dns.Client{Net: "tcp", Timeout: 3 * time.Second}).Exchange(m, s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if resp.Rcode != dns.RcodeRefused {
			t.Errorf("unsigned update: %s, want REFUSED", dns.RcodeToString[resp.Rcode])
		}
	})
	if resp := ask(t, s.Addr(), "udp", etcd4.Host, dns.TypeA, 0); resp.Rcode != dns.RcodeNameError {
		t.Errorf("A %s after refused updates: %s, want NXDOMAIN", etcd4.Host, dns.RcodeToString[resp.Rcode])
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Error("zone file changed by refused updates")
	}
}

func TestUpdatesSurviveRestart(t *testing.T) {
	key := newTestKey(t)
	s, file := startServer(t, labZone(t), key)
	ctx := context.Background()
	if err := Register(ctx, s.Addr(), key, testDomain, etcd4, 2380, 2379, 60); err != nil {
		t.Fatal(err)
	}
	serial := s.Zone().Serial()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}

	s2 := startServerOn(t, file, key)
	p, ok := findPeer(lookup(t, s2.Addr(), ServerService), etcd4.Host)
	if !ok || !slices.Equal(p.Addrs, etcd4.Addrs) || p.Port != 2380 {
		t.Errorf("after restart peer %+v (found %v), want %s:2380 at %v", p, ok, etcd4.Host, etcd4.Addrs)
	}
	if s2.Zone().Serial() != serial {
		t.Errorf("serial after restart %d, want %d", s2.Zone().Serial(), serial)
	}
	entries, err := os.ReadDir(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("zone directory holds %d files, want the zone file only (no temporary files left)", len(entries))
	}
}

// signedUpdate sends m signed with key over TCP and returns the rcode.
func signedUpdate(t *testing.T, addr string, key spec.TSIGKey, m *dns.Msg) int {
	t.Helper()
	k, err := parseTSIGKey(key)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTsig(k.name, k.algorithm, tsigFudge, time.Now().Unix())
	c := &dns.Client{Net: "tcp", Timeout: 3 * time.Second, TsigProvider: keyring{k.name: k}}
	resp, _, err := c.Exchange(m, addr)
	if err != nil && resp != nil && resp.Rcode == dns.RcodeNotAuth {
		// miekg/dns takes any NOTAUTH for a TSIG failure; here it is RFC
		// 2136's "not authoritative for the zone".
		return resp.Rcode
	}
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if resp.IsTsig() == nil {
		t.Error("answer to a signed update is not signed")
	}
	return resp.Rcode
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

func TestUpdateForms(t *testing.T) {
	const d = testDomain + "."
	tests := []struct {
		name  string
		build func(t *testing.T, m *dns.Msg)
		rcode int
		check func(t *testing.T, z *Zone)
	}{
		{"insert", func(t *testing.T, m *dns.Msg) {
			m.Insert([]dns.RR{mustRR(t, "www."+d+" 60 IN TXT \"hello\"")})
		}, dns.RcodeSuccess, func(t *testing.T, z *Zone) {
			if len(z.Lookup("www."+d, dns.TypeTXT)) != 1 {
				t.Error("TXT not added")
			}
		}},
		{"insert sets the RRset's TTL", func(t *testing.T, m *dns.Msg) {
			m.Insert([]dns.RR{mustRR(t, "many."+d+" 30 IN A 10.9.9.9")})
		}, dns.RcodeSuccess, func(t *testing.T, z *Zone) {
			rrs := z.Lookup("many."+d, dns.TypeA)
			if len(rrs) != 65 || slices.ContainsFunc(rrs, func(rr dns.RR) bool { return rr.Header().Ttl != 30 }) {
				t.Errorf("%d A records, TTLs not all 30", len(rrs))
			}
		}},
		{"delete RRset", func(t *testing.T, m *dns.Msg) {
			m.RemoveRRset([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "many." + d, Rrtype: dns.TypeA}}})
		}, dns.RcodeSuccess, func(t *testing.T, z *Zone) {
			if z.Exists("many." + d) {
				t.Error("many still exists")
			}
		}},
		{"delete name", func(t *testing.T, m *dns.Msg) {
			m.RemoveName([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "etcd1." + d}}})
		}, dns.RcodeSuccess, func(t *testing.T, z *Zone) {
			if z.Exists("etcd1." + d) {
				t.Error("etcd1 still exists")
			}
		}},
		{"delete one record", func(t *testing.T, m *dns.Msg) {
			m.Remove([]dns.RR{mustRR(t, "_etcd-server-ssl._tcp."+d+" 300 IN SRV 0 0 2380 etcd2."+d)})
		}, dns.RcodeSuccess, func(t *testing.T, z *Zone) {
			if n := len(z.Lookup(SRVName(ServerService, testDomain), dns.TypeSRV)); n != 2 {
				t.Errorf("%d server SRV records, want 2", n)
			}
		}},
		{"apex SOA and NS survive delete name", func(t *testing.T, m *dns.Msg) {
			m.RemoveName([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: d}}})
			m.Remove([]dns.RR{mustRR(t, d+" 0 IN NS ns1."+d)})
		}, dns.RcodeSuccess, func(t *testing.T, z *Zone) {
			if len(z.Lookup(d, dns.TypeNS)) != 1 || len(z.Lookup(d, dns.TypeSOA)) != 1 {
				t.Error("apex SOA or NS deleted")
			}
		}},
		{"CNAME beside data is ignored", func(t *testing.T, m *dns.Msg) {
			m.Insert([]dns.RR{mustRR(t, "etcd1."+d+" 60 IN CNAME etcd2."+d)})
		}, dns.RcodeSuccess, func(t *testing.T, z *Zone) {
			if len(z.Lookup("etcd1."+d, dns.TypeCNAME)) != 0 {
				t.Error("CNAME added beside A")
			}
		}},
		{"name outside the zone", func(t *testing.T, m *dns.Msg) {
			m.Insert([]dns.RR{mustRR(t, "etcd1.example.com. 60 IN A 10.0.0.1")})
		}, dns.RcodeNotZone, nil},
		{"one bad record refuses the whole update", func(t *testing.T, m *dns.Msg) {
			m.Insert([]dns.RR{mustRR(t, "www."+d+" 60 IN A 10.0.0.1"), mustRR(t, "x.example.com. 60 IN A 10.0.0.1")})
		}, dns.RcodeNotZone, func(t *testing.T, z *Zone) {
			if z.Exists("www." + d) {
				t.Error("part of a refused update applied")
			}
		}},
		{"prerequisite: name in use, not met", func(t *testing.T, m *dns.Msg) {
			m.NameUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "etcd9." + d}}})
			m.Insert([]dns.RR{mustRR(t, "www."+d+" 60 IN A 10.0.0.1")})
		}, dns.RcodeNameError, nil},
		{"prerequisite: name not in use, met", func(t *testing.T, m *dns.Msg) {
			m.NameNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: "www." + d}}})
			m.Insert([]dns.RR{mustRR(t, "www."+d+" 60 IN A 10.0.0.1")})
		}, dns.RcodeSuccess, nil},
		{"prerequisite: RRset does not exist, not met", func(t *testing.T, m *dns.Msg) {
			m.RRsetNotUsed([]dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "etcd1." + d, Rrtype: dns.TypeA}}})
		}, dns.RcodeYXRrset, nil},
		{"prerequisite: RRset exists with value, met", func(t *testing.T, m *dns.Msg) {
			m.Used([]dns.RR{mustRR(t, "etcd2."+d+" 300 IN A 192.168.2.52")})
			m.Remove([]dns.RR{mustRR(t, "etcd2."+d+" 300 IN A 192.168.2.52")})
		}, dns.RcodeSuccess, func(t *testing.T, z *Zone) {
			if z.Exists("etcd2." + d) {
				t.Error("etcd2 A not removed")
			}
		}},
		{"prerequisite: RRset exists with value, not met", func(t *testing.T, m *dns.Msg) {
			m.Used([]dns.RR{mustRR(t, "etcd2."+d+" 300 IN A 192.168.2.99")})
		}, dns.RcodeNXRrset, nil},
		{"another zone", func(t *testing.T, m *dns.Msg) {
			m.Question[0].Name = "example.com."
			m.Insert([]dns.RR{mustRR(t, "www.example.com. 60 IN A 10.0.0.1")})
		}, dns.RcodeNotAuth, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := newTestKey(t)
			s, _ := startServer(t, labZone(t), key)
			before := s.Zone().Serial()
			m := new(dns.Msg).SetUpdate(d)
			tt.build(t, m)
			if rcode := signedUpdate(t, s.Addr(), key, m); rcode != tt.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[rcode], dns.RcodeToString[tt.rcode])
			}
			if tt.rcode != dns.RcodeSuccess && s.Zone().Serial() != before {
				t.Error("serial bumped by a refused update")
			}
			if tt.check != nil {
				tt.check(t, s.Zone())
			}
		})
	}
}

func TestRegisterReportsUnreachableServer(t *testing.T) {
	addr := closedPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := Register(ctx, addr, newTestKey(t), testDomain, etcd4, 2380, 2379, 60)
	if !errors.Is(err, ErrServerUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Errorf("Register to a closed port = %v, want ErrServerUnreachable naming %s", err, addr)
	}
}

func TestRegisterChecksItsInput(t *testing.T) {
	key := newTestKey(t)
	ctx := context.Background()
	tests := []struct {
		name string
		t    Target
		key  spec.TSIGKey
		want string
	}{
		{"host outside the domain", Target{Host: "node.example.com.", Addrs: etcd4.Addrs}, key, "outside zone"},
		{"no addresses", Target{Host: etcd4.Host}, key, "no address"},
		{"bad secret", etcd4, spec.TSIGKey{Name: "k", Secret: "%%%"}, "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// 192.0.2.1 (TEST-NET-1) is never asked: the input is refused first.
			err := Register(ctx, "192.0.2.1:53", tt.key, testDomain, tt.t, 2380, 2379, 60)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Register = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// closedPort returns a loopback address where nothing listens (UDP or TCP).
func closedPort(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}
