package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/discovery"
)

// BenchmarkDNSQueriesPerSecond compares `etcdboot dns serve` with dnsmasq
// (Debian) answering the same SRV and A records on loopback, in the same run,
// with the same bounded load: 8 concurrent UDP clients, 20,000 SRV queries
// or 10 s, whichever ends first.
func BenchmarkDNSQueriesPerSecond(b *testing.B) {
	dnsmasq, err := exec.LookPath("dnsmasq")
	if err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			b.Fatal("dnsmasq missing: run make deps")
		}
		b.Skip("dnsmasq missing: run make deps")
	}
	bin := binDir(b)
	dir := b.TempDir()
	var targets []discovery.Target
	for i := 1; i <= 5; i++ {
		targets = append(targets, discovery.Target{Host: fmt.Sprintf("etcd%d.%s.", i, testDomain), Addrs: []netip.Addr{netip.MustParseAddr(fmt.Sprintf("127.0.1.%d", i))}})
	}
	rrs := discovery.Records(testDomain, targets, 2380, 2379, 300)
	opts := discovery.DefaultZoneOptions(testDomain)
	opts.NameserverAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	var zone bytes.Buffer
	if err := discovery.WriteZone(&zone, testDomain, rrs, 1, opts); err != nil {
		b.Fatal(err)
	}
	zoneFile := filepath.Join(dir, testDomain+".zone")
	if err := os.WriteFile(zoneFile, zone.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	ourAddr, theirAddr := freeUDP(b), freeUDP(b)
	ours := startBG(b, filepath.Join(bin, "etcdboot"), "dns", "serve", "-z", zoneFile, "--listen", ourAddr)
	defer stopBG(ours)
	args := []string{"--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
		"--listen-address=127.0.0.1", "--port=" + portOf(theirAddr), "--user=root"}
	for _, t := range targets {
		args = append(args, fmt.Sprintf("--srv-host=_etcd-server-ssl._tcp.%s,%s,2380,0,0", testDomain, t.Host[:len(t.Host)-1]),
			fmt.Sprintf("--host-record=%s,%s", t.Host[:len(t.Host)-1], t.Addrs[0]))
	}
	theirs := startBG(b, dnsmasq, args...)
	defer stopBG(theirs)
	qname := "_etcd-server-ssl._tcp." + testDomain + "."
	for _, addr := range []string{ourAddr, theirAddr} {
		waitAnswer(b, addr, qname)
	}
	b.ResetTimer()
	var ourQPS, theirQPS float64
	for i := 0; i < b.N; i++ {
		ourQPS += loadQPS(b, ourAddr, qname)
		theirQPS += loadQPS(b, theirAddr, qname)
	}
	ourQPS, theirQPS = ourQPS/float64(b.N), theirQPS/float64(b.N)
	b.ReportMetric(ourQPS, "etcdboot-qps")
	b.ReportMetric(theirQPS, "dnsmasq-qps")
	b.ReportMetric(ourQPS/theirQPS, "etcdboot/dnsmasq")
	fmt.Printf("SRV queries per second: etcdboot dns serve %.0f, dnsmasq %.0f, ratio %.2f\n", ourQPS, theirQPS, ourQPS/theirQPS)
}

func freeUDP(b *testing.B) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func startBG(b *testing.B, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return cmd
}

func stopBG(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func waitAnswer(b *testing.B, addr, qname string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := new(dns.Msg)
		m.SetQuestion(qname, dns.TypeSRV)
		r, _, err := (&dns.Client{Timeout: 500 * time.Millisecond}).Exchange(m, addr)
		if err == nil && len(r.Answer) == 5 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s never answered 5 SRV records: %v %v", addr, r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loadQPS sends at most 20,000 SRV queries from 8 clients for at most 10 s.
func loadQPS(b *testing.B, addr, qname string) float64 {
	const workers, total = 8, 20000
	var sent, failed atomic.Int64
	deadline := time.Now().Add(10 * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := dns.Dial("udp", addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			m := new(dns.Msg)
			m.SetQuestion(qname, dns.TypeSRV)
			for sent.Add(1) <= total && time.Now().Before(deadline) {
				_ = conn.SetDeadline(time.Now().Add(time.Second))
				if err := conn.WriteMsg(m); err != nil {
					failed.Add(1)
					continue
				}
				if r, err := conn.ReadMsg(); err != nil || len(r.Answer) != 5 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	done := min(sent.Load(), total)
	if f := failed.Load(); f > done/100 {
		b.Fatalf("%s: %d of %d queries failed", addr, f, done)
	}
	return float64(done) / time.Since(start).Seconds()
}
