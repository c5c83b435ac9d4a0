package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/spec"
)

const (
	testDomain = "etcd.e2e.internal"
	dnsAddr    = "10.123.0.2"
)

// dnsServer starts an authoritative server for the cluster's generated zone
// in its own namespace: "etcdboot" (etcdboot dns serve) or "bind" (BIND 9).
func dnsServer(t testing.TB, c *testcluster.Cluster, kind string) *netlab.Host {
	t.Helper()
	h, err := c.Lab.AddHost("dns", netip.MustParseAddr(dnsAddr))
	if err != nil {
		t.Fatal(err)
	}
	zone := generate.ZonePath(c.Out, testDomain)
	var p *netlab.Process
	switch kind {
	case "etcdboot":
		p, err = h.Start("dns-serve", []string{filepath.Join(c.Opts.Bin, "etcdboot"), "dns", "serve", "-z", zone, "--listen", dnsAddr + ":53"}, nil)
	case "bind":
		p, err = h.Start("named", namedArgv(t, c, zone), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the server answers SOA for the zone.
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(testDomain), dns.TypeSOA)
		r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, dnsAddr+":53")
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s DNS server never answered: %v\n%s", kind, err, p.Tail(20))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, n := range c.Nodes {
		if err := n.Host.SetResolvConf(netip.MustParseAddr(dnsAddr)); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// namedArgv writes a named.conf serving the generated zone as primary, with
// updates allowed for the generator's key when there is one.
func namedArgv(t testing.TB, c *testcluster.Cluster, zone string) []string {
	t.Helper()
	named, err := exec.LookPath("named")
	if err != nil {
		named = "/usr/sbin/named"
	}
	if _, err := os.Stat(named); err != nil {
		t.Fatalf("BIND's named is missing: run make deps (%v)", err)
	}
	dir := t.TempDir()
	data, err := os.ReadFile(zone)
	if err != nil {
		t.Fatal(err)
	}
	zoneCopy := filepath.Join(dir, "zone")
	if err := os.WriteFile(zoneCopy, data, 0o644); err != nil {
		t.Fatal(err)
	}
	update := ""
	key := ""
	if k, err := discovery.LoadTSIGKeyFile(generate.TSIGKeyPath(c.Out)); err == nil {
		key = fmt.Sprintf("key %q { algorithm %s; secret %q; };\n", k.Name, k.Algorithm, k.Secret)
		update = fmt.Sprintf("update-policy { grant %s zonesub ANY; };", k.Name)
	}
	conf := fmt.Sprintf(`options {
	directory %q;
	pid-file "%s/named.pid";
	session-keyfile "%s/session.key";
	managed-keys-directory %q;
	listen-on port 53 { %s; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
};
controls { };
%szone %q { type primary; file %q; %s };
`, dir, dir, dir, dir, dnsAddr, key, testDomain, zoneCopy, update)
	confFile := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{named, "-g", "-n", "1", "-4", "-c", confFile}
}

func TestDNSDiscovery(t *testing.T) {
	for _, tc := range []struct {
		name     string
		server   string
		register bool
	}{
		{"srv-records-etcdboot-dns", "etcdboot", false},
		{"srv-records-bind9", "bind", false},
		{"self-registration-etcdboot-dns", "etcdboot", true},
		{"self-registration-bind9", "bind", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &spec.DNSDiscovery{Domain: testDomain, Nameserver: dnsAddr, Register: tc.register}
			if tc.register {
				d.Server = dnsAddr + ":53" // updates go to the primary itself
			}
			c := newCluster(t, testcluster.Options{Members: 3, Discovery: spec.DiscoveryDNS, DNS: d})
			dnsServer(t, c, tc.server)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if tc.register {
				// The zone starts without members: nothing to discover yet.
				if _, err := discovery.LookupSRV(ctx, dnsAddr+":53", discovery.ServerService, testDomain); err == nil {
					t.Fatal("the registration zone already lists members")
				}
			}
			startHealthy(t, c)
			if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/dns", tc.name); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Get(ctx, c.Nodes[2].ClientURL(), "/dns"); err != nil || got != tc.name {
				t.Fatalf("read back: %q %v", got, err)
			}
			peers, err := discovery.LookupSRV(ctx, dnsAddr+":53", discovery.ServerService, testDomain)
			if err != nil || len(peers) != 3 {
				t.Fatalf("SRV after forming: %v %v", peers, err)
			}
			if !tc.register {
				return
			}
			// An unsigned update is refused.
			m := new(dns.Msg)
			m.SetUpdate(dns.Fqdn(testDomain))
			rr, _ := dns.NewRR("intruder." + testDomain + ". 60 IN A 10.123.0.99")
			m.Insert([]dns.RR{rr})
			r, _, err := (&dns.Client{Net: "tcp", Timeout: 2 * time.Second}).Exchange(m, dnsAddr+":53")
			if err != nil || (r.Rcode != dns.RcodeRefused && r.Rcode != dns.RcodeNotAuth) {
				t.Fatalf("unsigned update: rcode %v, err %v", r, err)
			}
			// A graceful leave removes the member and its records.
			leaver := c.Nodes[2]
			out, err := leaver.Host.Run(ctx, leaver.LeaveArgv()...)
			if err != nil {
				t.Fatalf("leave: %v\n%s", err, out)
			}
			peers, err = discovery.LookupSRV(ctx, dnsAddr+":53", discovery.ServerService, testDomain)
			if err != nil || len(peers) != 2 {
				t.Fatalf("SRV after leave: %v %v", peers, err)
			}
			for _, p := range peers {
				if strings.HasPrefix(p.Host, leaver.Name+".") {
					t.Errorf("%s still listed after leave", leaver.Name)
				}
			}
			cli, err := c.Client(c.Nodes[0].ClientURL())
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			ml, err := cli.MemberList(ctx)
			if err != nil || len(ml.Members) != 2 {
				t.Fatalf("member list after leave: %v %v", ml, err)
			}
		})
	}
}

func TestDNSDiscoveryBadInput(t *testing.T) {
	t.Run("zone with a syntax error names the line", func(t *testing.T) {
		dir := t.TempDir()
		zone := filepath.Join(dir, testDomain+".zone")
		content := "$ORIGIN " + testDomain + ".\n$TTL 60\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n@ IN NS ns1\nns1 IN A 10.0.0.1\netcd1 IN A not-an-address\n"
		if err := os.WriteFile(zone, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(filepath.Join(binDir(t), "etcdboot"), "dns", "serve", "-z", zone, "--listen", "127.0.0.1:0").CombinedOutput()
		if err == nil || !strings.Contains(string(out), ":6") {
			t.Fatalf("want a line-6 error, got %v:\n%s", err, out)
		}
	})
	t.Run("member without an address record never starts", func(t *testing.T) {
		c := newCluster(t, testcluster.Options{Members: 3, Discovery: spec.DiscoveryDNS, DNS: &spec.DNSDiscovery{Domain: testDomain, Nameserver: dnsAddr}})
		// Remove etcd2's A record from the zone before serving it.
		zone := generate.ZonePath(c.Out, testDomain)
		data, _ := os.ReadFile(zone)
		var kept []string
		for _, line := range strings.Split(string(data), "\n") {
			if !(strings.HasPrefix(line, "etcd2 ") && strings.Contains(line, " A ")) {
				kept = append(kept, line)
			}
		}
		if err := os.WriteFile(zone, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		dnsServer(t, c, "etcdboot")
		n := c.Nodes[0]
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// A short discovery timeout: the agent retries, then says why.
		argv := n.AgentArgv()
		out, err := n.Host.Run(ctx, append(argv[:len(argv):len(argv)], "--discovery-timeout", "3s")...)
		if err == nil || !strings.Contains(string(out), "etcd2."+testDomain) || !strings.Contains(string(out), "no A or AAAA record") {
			t.Fatalf("want an error naming etcd2's missing address, got %v:\n%s", err, out)
		}
		if !strings.Contains(string(out), "retrying") {
			t.Errorf("the agent did not retry:\n%s", out)
		}
	})
	t.Run("wrong update key is refused", func(t *testing.T) {
		c := newCluster(t, testcluster.Options{Members: 3, Discovery: spec.DiscoveryDNS,
			DNS: &spec.DNSDiscovery{Domain: testDomain, Server: dnsAddr + ":53", Register: true}})
		dnsServer(t, c, "etcdboot")
		wrong, err := discovery.NewTSIGKey("etcdboot-update." + testDomain)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = discovery.Register(ctx, dnsAddr+":53", wrong, testDomain, discovery.Target{Host: "rogue." + testDomain + ".", Addrs: []netip.Addr{netip.MustParseAddr("10.123.0.99")}}, 2380, 2379, 60)
		if err == nil {
			t.Fatal("an update signed with the wrong secret was accepted")
		}
		if peers, _ := discovery.LookupSRV(ctx, dnsAddr+":53", discovery.ServerService, testDomain); len(peers) != 0 {
			t.Fatalf("rogue record landed: %v", peers)
		}
	})
}
