package netlab

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests below create real namespaces. They all use prefix "ebnl" on
// 10.123.0.0/24 and run one after another (no t.Parallel); the lab's locks
// make a concurrent e2e package on the same subnet wait instead of collide.
const testPrefix = "ebnl"

func testOptions() Options {
	return Options{
		Prefix:   testPrefix,
		Subnet:   netip.MustParsePrefix("10.123.0.0/24"),
		HostAddr: netip.MustParseAddr("10.123.0.1"),
	}
}

var (
	addrA = netip.MustParseAddr("10.123.0.11")
	addrB = netip.MustParseAddr("10.123.0.12")
)

// helperArgv runs the test binary itself as a helper inside a host.
func helperArgv(t *testing.T, role, addr string, env ...string) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{"env", helperEnv + "=" + role, "NETLAB_ADDR=" + addr}
	return append(append(argv, env...), exe)
}

// startListener starts a greeting TCP listener on h and waits until the root
// namespace can reach it.
func startListener(t *testing.T, h *Host, port string) *Process {
	t.Helper()
	addr := net.JoinHostPort(h.Addr.String(), port)
	p, err := h.Start("listen", helperArgv(t, "listen", addr, "NETLAB_GREETING=hello from "+h.Name), nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := dialFromRoot(addr); err == nil {
			return p
		} else if time.Now().After(deadline) {
			t.Fatalf("listener on %s never answered: %v\n%s", addr, err, p.Tail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dialFromRoot(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// dialFromHost connects from inside h to addr and returns the greeting.
func dialFromHost(t *testing.T, h *Host, addr string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Run(ctx, helperArgv(t, "dial", addr)...)
	return strings.TrimSpace(string(out)), err
}

func TestHostsReachEachOtherAndTheRootNamespace(t *testing.T) {
	lab := NewForTest(t, testOptions())
	a, err := lab.AddHost("a", addrA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.AddHost("b", addrB)
	if err != nil {
		t.Fatal(err)
	}
	if got := lab.Hosts(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("Hosts() = %v, want [a b]", got)
	}
	out, err := a.Run(context.Background(), "ip", "-br", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(string(out), "10.123.0.11/24") {
		t.Fatalf("eth0 in %s: %s %v", a.NS, out, err)
	}

	startListener(t, a, "7000")
	startListener(t, b, "7000")
	addrOfA := net.JoinHostPort(a.Addr.String(), "7000")
	addrOfB := net.JoinHostPort(b.Addr.String(), "7000")

	if got, err := dialFromRoot(addrOfA); err != nil || got != "hello from a" {
		t.Errorf("root -> a: %q, %v", got, err)
	}
	if got, err := dialFromHost(t, b, addrOfA); err != nil || got != "hello from a" {
		t.Errorf("b -> a: %q, %v", got, err)
	}
	if got, err := dialFromHost(t, a, addrOfB); err != nil || got != "hello from b" {
		t.Errorf("a -> b: %q, %v", got, err)
	}
	// The hosts reach the root namespace's address too.
	ln, err := net.Listen("tcp", net.JoinHostPort(lab.HostAddr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello from root\n"))
			c.Close()
		}
	}()
	if got, err := dialFromHost(t, b, ln.Addr().String()); err != nil || got != "hello from root" {
		t.Errorf("b -> root: %q, %v", got, err)
	}
}

func TestBlockPartitionsTwoHostsAndUnblockHeals(t *testing.T) {
	lab := NewForTest(t, testOptions())
	a, err := lab.AddHost("a", addrA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.AddHost("b", addrB)
	if err != nil {
		t.Fatal(err)
	}
	startListener(t, a, "7000")
	startListener(t, b, "7000")
	addrOfA := net.JoinHostPort(a.Addr.String(), "7000")
	addrOfB := net.JoinHostPort(b.Addr.String(), "7000")

	if err := a.Block(b.Addr); err != nil {
		t.Fatal(err)
	}
	if err := a.Block(b.Addr); err != nil {
		t.Fatalf("blocking twice: %v", err)
	}
	if got := a.Blocked(); len(got) != 1 || got[0] != b.Addr {
		t.Errorf("Blocked() = %v, want [%s]", got, b.Addr)
	}
	if out, err := a.Run(context.Background(), "nft", "list", "table", "inet", "netlab"); err != nil || !strings.Contains(string(out), b.Addr.String()) {
		t.Errorf("nft table while blocked: %s %v", out, err)
	}
	if got, err := dialFromHost(t, b, addrOfA); err == nil {
		t.Errorf("b -> a while a blocks b: connected, got %q", got)
	}
	if got, err := dialFromHost(t, a, addrOfB); err == nil {
		t.Errorf("a -> b while a blocks b: connected, got %q", got)
	}
	// Only the pair is cut: the root namespace still reaches both.
	if got, err := dialFromRoot(addrOfA); err != nil || got != "hello from a" {
		t.Errorf("root -> a while a blocks b: %q, %v", got, err)
	}
	if got, err := dialFromRoot(addrOfB); err != nil || got != "hello from b" {
		t.Errorf("root -> b while a blocks b: %q, %v", got, err)
	}

	if err := a.Unblock(b.Addr); err != nil {
		t.Fatal(err)
	}
	if err := a.Unblock(b.Addr); err != nil {
		t.Fatalf("unblocking twice: %v", err)
	}
	if got, err := dialFromHost(t, b, addrOfA); err != nil || got != "hello from a" {
		t.Errorf("b -> a after unblock: %q, %v", got, err)
	}
	if got, err := dialFromHost(t, a, addrOfB); err != nil || got != "hello from b" {
		t.Errorf("a -> b after unblock: %q, %v", got, err)
	}
	if out, err := a.Run(context.Background(), "nft", "list", "tables"); err != nil || strings.Contains(string(out), "netlab") {
		t.Errorf("nft tables after the last unblock: %s %v; want no netlab table", out, err)
	}
}

func TestResolvConfAndHostsAreHonouredInsideTheHost(t *testing.T) {
	lab := NewForTest(t, testOptions())
	a, err := lab.AddHost("a", addrA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.AddHost("b", addrB)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetResolvConf(a.Addr); err != nil {
		t.Fatal(err)
	}
	out, err := b.Run(context.Background(), "cat", "/etc/resolv.conf")
	if err != nil || !strings.Contains(string(out), "nameserver 10.123.0.11\n") {
		t.Errorf("/etc/resolv.conf in b = %q, %v; want nameserver 10.123.0.11", out, err)
	}
	if after, _ := os.ReadFile("/etc/resolv.conf"); string(after) != string(before) {
		t.Errorf("the machine's /etc/resolv.conf changed: %q -> %q", before, after)
	}
	out, err = b.Run(context.Background(), "cat", "/etc/hosts")
	if err != nil || !strings.Contains(string(out), "127.0.0.1\tlocalhost") {
		t.Errorf("/etc/hosts in b = %q, %v; want localhost lines", out, err)
	}

	// Go's resolver inside b asks a, the name server resolv.conf names.
	sink, err := a.Start("dns", helperArgv(t, "udpsink", "10.123.0.11:53"), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitForLog(t, sink, "listening on 10.123.0.11:53", 10*time.Second)
	if _, err := b.Run(context.Background(), helperArgv(t, "resolve", "member1.lab.test")...); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, sink, "datagram from 10.123.0.12", 10*time.Second)
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s", what, timeout)
		}
	}
}

// waitForLog waits until p's log contains want.
func waitForLog(t *testing.T, p *Process, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(p.LogPath())
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s has no %q after %s:\n%s", p, want, timeout, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestProcessLogExitAndSignal(t *testing.T) {
	lab := NewForTest(t, testOptions())
	a, err := lab.AddHost("a", addrA)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Start("short", helperArgv(t, "exit3", ""), []string{"NETLAB_UNUSED=1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(lab.LogDir(), "a-short.log"); p.LogPath() != want {
		t.Errorf("LogPath() = %s, want %s", p.LogPath(), want)
	}
	err = p.Wait(10 * time.Second)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Fatalf("Wait() = %v, want exit status 3", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Error("Exited() not closed after Wait returned")
	}
	if p.ExitErr() != err {
		t.Errorf("ExitErr() = %v, want %v", p.ExitErr(), err)
	}
	if got := p.Tail(1); got != "exiting with 3" {
		t.Errorf("Tail(1) = %q, want the process's last line", got)
	}

	// Starting the same name again appends to its log.
	p2, err := a.Start("short", helperArgv(t, "exit3", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	p2.Wait(10 * time.Second)
	if n := strings.Count(p2.Tail(100), "exiting with 3"); n != 2 {
		t.Errorf("log after two runs holds %d runs, want 2:\n%s", n, p2.Tail(100))
	}

	// stdout and stderr both land in the log; SIGTERM reaches the process.
	l := startListener(t, a, "7001")
	waitForLog(t, l, "a line on stderr", 5*time.Second)
	waitForLog(t, l, "listening on 10.123.0.11:7001", 5*time.Second)
	if _, err := a.Start("listen", []string{"true"}, nil); err == nil {
		t.Error("Start of a name that is still running succeeded")
	}
	if err := l.Wait(100 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Wait on a running process = %v, want a deadline error", err)
	}
	if err := l.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(10 * time.Second); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("Wait after SIGTERM = %v, want killed by SIGTERM", err)
	}
	if err := l.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit = %v, want os.ErrProcessDone", err)
	}

	// Kill reaches the process's children through its process group.
	tree, err := a.Start("tree", []string{"sh", "-c", "sleep 1000 & sleep 1000 & wait"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "three processes in the group", func() bool { return len(liveGroupMembers(t, tree.Pid())) == 3 })
	if err := tree.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "an empty process group after Kill", func() bool { return len(liveGroupMembers(t, tree.Pid())) == 0 })

	// NSFd opens the namespace the host's processes run in.
	l = startListener(t, a, "7002")
	fd, err := a.NSFd()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	var nsStat, procStat syscall.Stat_t
	if err := syscall.Fstat(fd, &nsStat); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat("/proc/"+strconv.Itoa(l.Pid())+"/ns/net", &procStat); err != nil {
		t.Fatal(err)
	}
	if nsStat.Ino != procStat.Ino {
		t.Errorf("NSFd() is namespace inode %d, the host's process runs in %d", nsStat.Ino, procStat.Ino)
	}
}
