package discovery

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/spec"
)

// These tests hold etcdboot's DNS to Debian's BIND 9 (packages bind9,
// bind9-utils, bind9-dnsutils): its zone checker, its server and its tools.

// bindTool finds a BIND program; it skips the test when the program is
// missing, or fails it when ETCDBOOT_E2E_REQUIRED=1.
func bindTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/bin", "/usr/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
		t.Fatalf("%s not found and ETCDBOOT_E2E_REQUIRED=1: apt-get install bind9 bind9-utils bind9-dnsutils", name)
	}
	t.Skipf("%s not found (apt-get install bind9 bind9-utils bind9-dnsutils); set ETCDBOOT_E2E_REQUIRED=1 to fail instead", name)
	return ""
}

// namedCheckzone runs named-checkzone with its strictest checks.
func namedCheckzone(t *testing.T, file string) {
	t.Helper()
	out, err := exec.Command(bindTool(t, "named-checkzone"),
		"-i", "full", "-k", "fail", "-m", "fail", "-M", "fail", "-n", "fail", "-S", "fail", "-r", "fail",
		testDomain, file).CombinedOutput()
	if err != nil {
		zone, _ := os.ReadFile(file)
		t.Fatalf("named-checkzone refuses %s: %v\n%s\nzone:\n%s", file, err, out, zone)
	}
}

func TestBINDAcceptsGeneratedZone(t *testing.T) {
	file := filepath.Join(t.TempDir(), "generated.zone")
	if err := os.WriteFile(file, writeTestZone(t, threeTargets(), 2024010101), 0o644); err != nil {
		t.Fatal(err)
	}
	namedCheckzone(t, file)
}

func TestBINDAcceptsZoneSavedAfterUpdates(t *testing.T) {
	bindTool(t, "named-checkzone")
	key := newTestKey(t)
	s, file := startServer(t, writeTestZone(t, threeTargets(), 1), key)
	ctx := context.Background()
	if err := Register(ctx, s.Addr(), key, testDomain, etcd4, 2380, 2379, 60); err != nil {
		t.Fatal(err)
	}
	if err := Deregister(ctx, s.Addr(), key, testDomain, Target{Host: "etcd2." + testDomain}, 2380, 2379); err != nil {
		t.Fatal(err)
	}
	namedCheckzone(t, file)
}

func TestBINDRejectsZoneWithoutNameserverAddress(t *testing.T) {
	// The check above can fail: named-checkzone refuses an in-zone NS
	// without address, which is why WriteZone insists on NameserverAddrs.
	bindTool(t, "named-checkzone")
	file := filepath.Join(t.TempDir(), "noglue.zone")
	z := zoneHead[:strings.Index(zoneHead, "ns1 IN A")]
	if err := os.WriteFile(file, []byte(z), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bindTool(t, "named-checkzone"), "-n", "fail", testDomain, file).CombinedOutput()
	if err == nil {
		t.Fatalf("named-checkzone accepted an NS without address:\n%s", out)
	}
}

// tsigArg is a key as BIND's -y option takes it.
func tsigArg(k spec.TSIGKey) string {
	return fmt.Sprintf("hmac-sha256:%s:%s", k.Name, k.Secret)
}

func TestBINDToolsUpdateAndQueryServer(t *testing.T) {
	nsupdate, dig := bindTool(t, "nsupdate"), bindTool(t, "dig")
	key := newTestKey(t)
	s, _ := startServer(t, labZone(t), key)
	host, port, _ := net.SplitHostPort(s.Addr())
	script := fmt.Sprintf("server %s %s\nzone %s.\nupdate add etcd5.%s. 60 IN A 192.168.2.55\nsend\n", host, port, testDomain, testDomain)

	for _, tt := range []struct {
		name string
		args []string
	}{{"UDP", nil}, {"TCP", []string{"-v"}}} {
		t.Run("nsupdate over "+tt.name, func(t *testing.T) {
			cmd := exec.Command(nsupdate, append(tt.args, "-y", tsigArg(key))...)
			cmd.Stdin = strings.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("nsupdate: %v\n%s", err, out)
			}
		})
	}
	t.Run("nsupdate with a wrong secret", func(t *testing.T) {
		wrong := newTestKey(t)
		wrong.Name = key.Name
		cmd := exec.Command(nsupdate, "-y", tsigArg(wrong))
		cmd.Stdin = strings.NewReader(strings.Replace(script, "etcd5", "etcd6", 1))
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "NOTAUTH(BADSIG)") || strings.Contains(string(out), "clocks") {
			t.Fatalf("nsupdate with a wrong secret: %v, want NOTAUTH(BADSIG) and no word of clocks:\n%s", err, out)
		}
	})
	t.Run("dig, signed, over TCP", func(t *testing.T) {
		out, err := exec.Command(dig, "@"+host, "-p", port, "+tcp", "+norec", "-y", tsigArg(key), "etcd5."+testDomain, "A").CombinedOutput()
		text := string(out)
		if err != nil || !strings.Contains(text, "flags: qr aa;") || !strings.Contains(text, "192.168.2.55") ||
			strings.Contains(text, "Couldn't verify") || !strings.Contains(text, "TSIG") {
			t.Errorf("dig: %v\n%s", err, text)
		}
	})
	if resp := ask(t, s.Addr(), "udp", "etcd6."+testDomain, dns.TypeA, 0); resp.Rcode != dns.RcodeNameError {
		t.Errorf("etcd6 exists after a refused nsupdate")
	}
}

// freePort returns a loopback port free for both UDP and TCP just now.
func freePort(t *testing.T) int {
	t.Helper()
	pc, ln, err := listenUDPAndTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	ln.Close()
	return port
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startNamed runs BIND's named in the foreground as the primary for the
// three-member zone, accepting updates signed with key, and stops it when
// the test ends.
func startNamed(t *testing.T, key spec.TSIGKey) string {
	t.Helper()
	named := bindTool(t, "named")
	dir := t.TempDir()
	zone := filepath.Join(dir, "zone")
	if err := os.WriteFile(zone, writeTestZone(t, threeTargets(), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	conf := fmt.Sprintf(`options {
	directory %[1]q;
	pid-file %[1]q "/named.pid";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	session-keyfile %[1]q "/session.key";
	managed-keys-directory %[1]q;
	recursion no;
	dnssec-validation no;
};
controls { };
key %[3]q { algorithm hmac-sha256; secret %[4]q; };
zone %[5]q { type primary; file %[6]q; update-policy { grant %[3]s zonesub ANY; }; };
`, dir, port, key.Name, key.Secret, testDomain, zone)
	conf = strings.ReplaceAll(conf, `" "/`, `/`)
	confFile := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	cmd := exec.Command(named, "-g", "-n", "1", "-4", "-c", confFile)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start named: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("named log:\n%s", logs.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := new(dns.Msg).SetQuestion(testDomain+".", dns.TypeSOA)
		resp, _, err := (&dns.Client{Timeout: 300 * time.Millisecond}).Exchange(m, addr)
		if err == nil && resp.Rcode == dns.RcodeSuccess && resp.Authoritative {
			return addr
		}
		select {
		case err := <-exited:
			t.Fatalf("named exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("named not answering on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRegisterAndLookupAgainstBIND(t *testing.T) {
	key := newTestKey(t)
	addr := startNamed(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	if got := hosts(lookup(t, addr, ServerService)); len(got) != 3 {
		t.Fatalf("BIND serves peers %v, want etcd1-3", got)
	}
	if err := Register(ctx, addr, key, testDomain, etcd4, 2380, 2379, 60); err != nil {
		t.Fatalf("Register with BIND: %v", err)
	}
	p, ok := findPeer(lookup(t, addr, ServerService), etcd4.Host)
	if !ok || p.Port != 2380 || !slices.Equal(p.Addrs, etcd4.Addrs) {
		t.Errorf("after Register BIND serves %+v (found %v), want %s:2380 at %v", p, ok, etcd4.Host, etcd4.Addrs)
	}
	if err := Deregister(ctx, addr, key, testDomain, etcd4, 2380, 2379); err != nil {
		t.Fatalf("Deregister with BIND: %v", err)
	}
	if got := hosts(lookup(t, addr, ClientService)); slices.Contains(got, etcd4.Host) || len(got) != 3 {
		t.Errorf("after Deregister BIND serves %v, want etcd1-3", got)
	}

	wrong := newTestKey(t)
	wrong.Name = key.Name
	err := Register(ctx, addr, wrong, testDomain, etcd4, 2380, 2379, 60)
	if err == nil || !strings.Contains(err.Error(), "NOTAUTH") {
		t.Errorf("Register with a wrong secret: %v, want NOTAUTH from BIND", err)
	}
}
