package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/etcdboot/etcdboot/discovery"
)

// BenchmarkDNSQueriesPerSecond compares `etcdboot dns serve` with dnsmasq
// (Debian) answering the same SRV and A records on loopback, in the same run,
// with the same bounded load: 8 concurrent UDP clients, each with one SRV
// query in flight (the only query of the mix: what members ask at boot),
// 100,000 queries or 5 s, whichever ends first. Each iteration measures both
// servers, in alternating order; the figures are the medians.
//
// The comparison is one core against one core: dnsmasq answers in one
// thread, so both servers run pinned to the same CPU (taskset), where
// etcdboot's Go runtime sees one CPU (GOMAXPROCS=1), and the load generator
// runs on the other CPUs. The load generator sends prepacked queries and
// checks replies by their header (ID, RCODE, 5 answers), so that it is not
// the bottleneck; the servers' CPU time per query, read from /proc, shows
// what each spends whatever the client does.
func BenchmarkDNSQueriesPerSecond(b *testing.B) {
	dnsmasq, err := exec.LookPath("dnsmasq")
	if err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			b.Fatal("dnsmasq missing: run make deps")
		}
		b.Skip("dnsmasq missing: run make deps")
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			b.Fatal("taskset missing: install util-linux")
		}
		b.Skip("taskset missing: install util-linux")
	}
	if runtime.NumCPU() < 2 {
		b.Skip("needs 2 CPUs: one for the server under test, one for the load")
	}
	serverCPU := runtime.NumCPU() - 1
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
	pin := []string{"-c", strconv.Itoa(serverCPU)}
	ourAddr, theirAddr := freeUDP(b), freeUDP(b)
	ours := startBG(b, taskset, append(pin, filepath.Join(bin, "etcdboot"), "dns", "serve", "-z", zoneFile, "--listen", ourAddr)...)
	defer stopBG(ours)
	args := append(pin, dnsmasq, "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
		"--listen-address=127.0.0.1", "--port="+portOf(theirAddr), "--user=root")
	for _, t := range targets {
		args = append(args, fmt.Sprintf("--srv-host=_etcd-server-ssl._tcp.%s,%s,2380,0,0", testDomain, t.Host[:len(t.Host)-1]),
			fmt.Sprintf("--host-record=%s,%s", t.Host[:len(t.Host)-1], t.Addrs[0]))
	}
	theirs := startBG(b, taskset, args...)
	defer stopBG(theirs)
	qname := "_etcd-server-ssl._tcp." + testDomain + "."
	for _, addr := range []string{ourAddr, theirAddr} {
		waitAnswer(b, addr, qname)
	}
	restore := pinLoad(b, serverCPU)
	defer restore()
	b.ResetTimer()
	var ourQPS, theirQPS, ratios, ourCPU, theirCPU []float64
	for i := 0; i < b.N; i++ {
		var our, their load
		if i%2 == 0 {
			our, their = runLoad(b, ours, ourAddr, qname), runLoad(b, theirs, theirAddr, qname)
		} else {
			their, our = runLoad(b, theirs, theirAddr, qname), runLoad(b, ours, ourAddr, qname)
		}
		ourQPS, theirQPS = append(ourQPS, our.qps), append(theirQPS, their.qps)
		ourCPU, theirCPU = append(ourCPU, our.cpuPerQuery), append(theirCPU, their.cpuPerQuery)
		ratios = append(ratios, our.qps/their.qps)
	}
	b.StopTimer()
	b.ReportMetric(median(ourQPS), "etcdboot-qps")
	b.ReportMetric(median(theirQPS), "dnsmasq-qps")
	b.ReportMetric(median(ratios), "etcdboot/dnsmasq")
	b.ReportMetric(median(ourCPU), "etcdboot-cpu-ns-per-query")
	b.ReportMetric(median(theirCPU), "dnsmasq-cpu-ns-per-query")
	fmt.Printf("SRV queries per second (one core each, median of %d): etcdboot dns serve %.0f (%.0f ns CPU/query), dnsmasq %.0f (%.0f ns CPU/query), ratio %.2f\n",
		b.N, median(ourQPS), median(ourCPU), median(theirQPS), median(theirCPU), median(ratios))
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
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

// pinLoad runs every thread of this process, the load generator's, on the
// CPUs other than serverCPU (threads started later inherit it), and returns
// the function that undoes it.
func pinLoad(b *testing.B, serverCPU int) func() {
	var before, load unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		b.Fatal(err)
	}
	load = before
	load.Clear(serverCPU)
	setAll := func(set *unix.CPUSet) {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range tasks {
			tid, _ := strconv.Atoi(t.Name())
			_ = unix.SchedSetaffinity(tid, set) // a thread may have ended
		}
	}
	setAll(&load)
	return func() { setAll(&before) }
}

// load is what one server did under runLoad.
type load struct {
	qps         float64
	cpuPerQuery float64 // the server's CPU time (user and system) per query, ns
}

// runLoad sends at most 100,000 SRV queries from 8 clients for at most 5 s
// to the server cmd listening on addr.
func runLoad(b *testing.B, cmd *exec.Cmd, addr, qname string) load {
	const workers, total = 8, 100000
	var sent, failed atomic.Int64
	cpuBefore := cpuTime(b, cmd.Process.Pid)
	deadline := time.Now().Add(5 * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			conn, err := net.Dial("udp", addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			m := new(dns.Msg)
			m.SetQuestion(qname, dns.TypeSRV)
			m.Id = uint16(w + 1)
			query, err := m.Pack()
			if err != nil {
				b.Error(err)
				return
			}
			reply := make([]byte, dns.MinMsgSize)
			for sent.Add(1) <= total && time.Now().Before(deadline) {
				_ = conn.SetDeadline(time.Now().Add(time.Second))
				if _, err := conn.Write(query); err != nil {
					failed.Add(1)
					continue
				}
				n, err := conn.Read(reply)
				if err != nil || !answers(reply[:n], m.Id, 5) {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime(b, cmd.Process.Pid) - cpuBefore
	done := min(sent.Load(), total)
	if f := failed.Load(); f > done/100 {
		b.Fatalf("%s: %d of %d queries failed", addr, f, done)
	}
	return load{qps: float64(done) / elapsed.Seconds(), cpuPerQuery: float64(cpu.Nanoseconds()) / float64(done)}
}

// answers reports whether reply is a NOERROR response to query id with n
// answers: the header says so (both servers send exactly the records).
func answers(reply []byte, id uint16, n int) bool {
	return len(reply) >= 12 &&
		binary.BigEndian.Uint16(reply[0:]) == id &&
		reply[2]&0x80 != 0 && // QR
		reply[3]&0x0f == dns.RcodeSuccess &&
		binary.BigEndian.Uint16(reply[6:]) == uint16(n)
}

// cpuTime is the user and system time process pid has used so far.
func cpuTime(b *testing.B, pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command (in parentheses): state is field 3, utime 14
	// and stime 15, in clock ticks (USER_HZ, 100 on Linux).
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[14-3], 10, 64)
	stime, _ := strconv.ParseInt(fields[15-3], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100)
}
