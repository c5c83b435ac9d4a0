package etcdtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/internal/tlsfiles"
)

// Binary finds a binary `make etcd` built: in $ETCDBOOT_BIN, else in the
// module's bin/. It skips the test when the binary is missing, or fails it
// when ETCDBOOT_E2E_REQUIRED=1.
func Binary(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(BinDir(tb, name), name)
}

// BinDir is the directory Binary looks in, $ETCDBOOT_BIN or the module's
// bin/, once every one of names is there: a missing one skips the test, or
// fails it when ETCDBOOT_E2E_REQUIRED=1.
func BinDir(tb testing.TB, names ...string) string {
	tb.Helper()
	dir := os.Getenv("ETCDBOOT_BIN")
	if dir == "" {
		dir = filepath.Join(moduleRoot(tb), "bin")
	}
	for _, name := range names {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		// etcd, etcdctl and etcdutl come from make etcd; etcdboot and
		// etcdboot-agent from make build.
		target := "etcd"
		if strings.HasPrefix(name, "etcdboot") {
			target = "build"
		}
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			tb.Fatalf("%s missing: run make %s", p, target)
		}
		tb.Skipf("%s missing: run make %s", p, target)
	}
	return dir
}

// Versions is the etcd release matrix `make etcd` builds, each into
// bin/etcd-<version>/ (ETCD_VERSIONS in the Makefile).
var Versions = []string{"v3.5.27", "v3.6.16", "v3.7.3"}

// VersionBinary is name (etcd, etcdctl, etcdutl) of one release of the
// matrix, from bin/etcd-<version>/; "" is the default release in bin/.
func VersionBinary(tb testing.TB, version, name string) string {
	tb.Helper()
	if version == "" {
		return Binary(tb, name)
	}
	return Binary(tb, filepath.Join("etcd-"+version, name))
}

// moduleRoot walks up from the test's directory to the go.mod.
func moduleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			tb.Fatalf("no go.mod above %s", dir)
		}
	}
}

// ThreeNodeSpec is the cluster spec whose generated PKI the tests use: its
// member certificates name 127.0.0.1.
func ThreeNodeSpec(tb testing.TB) string {
	return filepath.Join(moduleRoot(tb), "examples", "three-node-static", "cluster.yaml")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	return FreePorts(tb, 1)[0]
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago: all are held open together so none is handed out twice.
//
// They are drawn at random from below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), never from it: a port reserved and
// released there could be taken, before etcd binds it, as the source port
// of any outgoing connection on the machine, such as another test
// package's clients running in parallel ("bind: address already in use").
// Each port is also claimed with a lock file (claimPort) for the test's
// lifetime, so two test processes drawing at once never share one.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	return FreePortsOn(tb, "127.0.0.1", n)
}

// FreePortsOn is FreePorts for ip; an address that does not exist yet (a
// lab namespace's, before the lab is up) is checked on 127.0.0.1.
func FreePortsOn(tb testing.TB, ip string, n int) []int {
	tb.Helper()
	lo, hi := portsBelowEphemeral()
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	check := ip
	if l, err := net.Listen("tcp", net.JoinHostPort(ip, "0")); err != nil {
		check = "127.0.0.1"
	} else {
		l.Close()
	}
	for tries := 0; len(ports) < n; tries++ {
		if tries > 1000 {
			tb.Fatalf("reserve %d ports in [%d, %d) on %s: none free after %d tries", n, lo, hi, ip, tries)
		}
		port := lo + rand.IntN(hi-lo)
		if !claimPort(tb, port) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(check, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	return ports
}

// portClaimDir holds one lock file per port handed out by FreePorts in any
// test process on the machine.
var portClaimDir = filepath.Join(os.TempDir(), "etcdboot-test-ports")

// claimPort takes an exclusive flock on port's file in portClaimDir and
// holds it until tb's cleanup, so that test binaries running in parallel
// (go test runs packages side by side) never hand out the same port between
// one's check and its etcd's bind. The kernel drops the lock when the
// process exits, so a killed test leaves no claim behind.
func claimPort(tb testing.TB, port int) bool {
	tb.Helper()
	if err := os.MkdirAll(portClaimDir, 0o777); err != nil {
		tb.Fatalf("port claims: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(portClaimDir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		tb.Fatalf("port claims: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	tb.Cleanup(func() { f.Close() })
	return true
}

// portsBelowEphemeral is the range FreePorts draws from: from 10000 up to
// the start of the ephemeral range, or [20000, 32768) when that cannot be
// read or leaves too little room.
func portsBelowEphemeral() (lo, hi int) {
	lo, hi = 20000, 32768
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return lo, hi
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start < 12000 {
		return lo, hi
	}
	return 10000, start
}

// Member is one etcd member to start on 127.0.0.1.
type Member struct {
	// Name is the member's name; its certificates are PKIDir/<Name>-server
	// and -peer. Default "etcd1".
	Name string
	// PKIDir is a generator's out/pki.
	PKIDir string
	// DataDir is etcd's data dir: empty for a new cluster, or restored.
	DataDir string
	// Token is the initial cluster token of a new cluster; default "etcdtest".
	Token string
	// IP is the address the member listens on; default 127.0.0.1 (any of
	// 127.0.0.0/8 works on Linux).
	IP string
	// PeerPort is the peer port, 0 for a free one. A restored member must
	// listen on the peer URL it was restored with.
	PeerPort int
	// InitialCluster is --initial-cluster; default this member alone. A
	// restored data dir ignores it.
	InitialCluster string
	// Version picks the etcd release from the matrix (e.g. "v3.5.27");
	// empty is the default bin/etcd.
	Version string
	// Flags are more etcd flags, e.g. --snapshot-count=50.
	Flags []string
}

// Etcd is a running member.
type Etcd struct {
	// Endpoint is its client URL.
	Endpoint string
	// PeerURL is its peer URL.
	PeerURL string
	// TLS is the CA and the admin client certificate.
	TLS tlsfiles.Files

	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// PeerURL is the peer URL of a member on 127.0.0.1.
func PeerURL(port int) string { return fmt.Sprintf("https://127.0.0.1:%d", port) }

// Start starts etcd and waits until it has a leader; the test's cleanup
// stops it and, when the test failed, logs the end of etcd's log.
func Start(tb testing.TB, m Member) *Etcd {
	tb.Helper()
	e := start(tb, m)
	e.waitReady(tb)
	return e
}

// StartCluster starts every member, then waits until each has a leader: a
// member of several waits for its peers before it is ready.
func StartCluster(tb testing.TB, members ...Member) []*Etcd {
	tb.Helper()
	var all []*Etcd
	for _, m := range members {
		all = append(all, start(tb, m))
	}
	for _, e := range all {
		e.waitReady(tb)
	}
	return all
}

func start(tb testing.TB, m Member) *Etcd {
	tb.Helper()
	if m.Name == "" {
		m.Name = "etcd1"
	}
	if m.Token == "" {
		m.Token = "etcdtest"
	}
	if m.PeerPort == 0 {
		m.PeerPort = FreePort(tb)
	}
	if m.IP == "" {
		m.IP = "127.0.0.1"
	}
	bin := VersionBinary(tb, m.Version, "etcd")
	pki := m.PKIDir
	e := &Etcd{
		Endpoint: fmt.Sprintf("https://%s:%d", m.IP, FreePort(tb)),
		PeerURL:  fmt.Sprintf("https://%s:%d", m.IP, m.PeerPort),
		TLS:      tlsfiles.Files{CAFile: filepath.Join(pki, "ca.crt"), CertFile: filepath.Join(pki, "admin.crt"), KeyFile: filepath.Join(pki, "admin.key")},
		exited:   make(chan struct{}),
		logPath:  m.DataDir + ".log",
	}
	if m.InitialCluster == "" {
		m.InitialCluster = m.Name + "=" + e.PeerURL
	}
	e.cmd = exec.Command(bin,
		"--name", m.Name, "--data-dir", m.DataDir,
		"--listen-client-urls", e.Endpoint, "--advertise-client-urls", e.Endpoint,
		"--listen-peer-urls", e.PeerURL, "--initial-advertise-peer-urls", e.PeerURL,
		"--initial-cluster", m.InitialCluster, "--initial-cluster-token", m.Token,
		"--cert-file", filepath.Join(pki, m.Name+"-server.crt"), "--key-file", filepath.Join(pki, m.Name+"-server.key"),
		"--trusted-ca-file", filepath.Join(pki, "ca.crt"), "--client-cert-auth",
		"--peer-cert-file", filepath.Join(pki, m.Name+"-peer.crt"), "--peer-key-file", filepath.Join(pki, m.Name+"-peer.key"),
		"--peer-trusted-ca-file", filepath.Join(pki, "ca.crt"), "--peer-client-cert-auth",
		"--quota-backend-bytes", "8589934592",
	)
	e.cmd.Args = append(e.cmd.Args, m.Flags...)
	logf, err := os.Create(e.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	if err := e.cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("start etcd: %v", err)
	}
	go func() {
		_ = e.cmd.Wait()
		logf.Close()
		close(e.exited)
	}()
	tb.Cleanup(func() {
		e.Stop()
		if tb.Failed() {
			e.dumpLog(tb)
		}
	})
	return e
}

// waitReady waits until the member answers Status with a leader.
func (e *Etcd) waitReady(tb testing.TB) {
	tb.Helper()
	cli := e.Client(tb)
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-e.exited:
			e.dumpLog(tb)
			tb.Fatalf("etcd exited before it was ready")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := cli.Status(ctx, e.Endpoint)
		cancel()
		if err == nil && st.Leader != 0 {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	e.dumpLog(tb)
	tb.Fatalf("etcd at %s never became ready: %v", e.Endpoint, last)
}

// Client is an admin client of the member; the caller closes it.
func (e *Etcd) Client(tb testing.TB) *clientv3.Client {
	tb.Helper()
	conf, err := e.TLS.ClientConfig()
	if err != nil {
		tb.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, TLS: conf, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		tb.Fatal(err)
	}
	return cli
}

// Stop stops etcd (SIGTERM, then SIGKILL after 10 s) and waits until it
// exited, so its ports and data dir are free again.
func (e *Etcd) Stop() {
	select {
	case <-e.exited:
		return
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
}

func (e *Etcd) dumpLog(tb testing.TB) {
	data, _ := os.ReadFile(e.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	tb.Logf("etcd log (%s):\n%s", e.logPath, strings.Join(lines, "\n"))
}

// maxTxnOps is etcd's default --max-txn-ops.
const maxTxnOps = 128

// Key is the name PutKeys gives key i.
func Key(i int) string { return fmt.Sprintf("/etcdtest/%06d", i) }

// Value is the value PutKeys gives key i, size bytes long.
func Value(i, size int) string {
	v := fmt.Sprintf("value-%06d-", i)
	for len(v) < size {
		v += v
	}
	return v[:size]
}

// PutKeys writes n keys, Key(i) = Value(i, valueSize), in transactions of
// etcd's maximum size, and returns the revision after the last one.
func PutKeys(tb testing.TB, cli *clientv3.Client, n, valueSize int) int64 {
	tb.Helper()
	var rev int64
	for start := 0; start < n; start += maxTxnOps {
		var ops []clientv3.Op
		for i := start; i < min(start+maxTxnOps, n); i++ {
			ops = append(ops, clientv3.OpPut(Key(i), Value(i, valueSize)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		resp, err := cli.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			tb.Fatalf("put keys %d..%d: %v", start, start+len(ops)-1, err)
		}
		rev = resp.Header.Revision
	}
	return rev
}
