package firewall

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// nsPrefix names every namespace these tests create, so stale ones can be
// found and nobody else's are touched.
const nsPrefix = "ebfw-"

func TestMain(m *testing.M) {
	// The test binary re-executed as another user: see metadataClient.
	if url := os.Getenv(metadataClientEnv); url != "" {
		os.Exit(metadataClient(url))
	}
	flag.Parse()
	if os.Geteuid() == 0 {
		removeStaleNetNS()
	}
	os.Exit(m.Run())
}

// removeStaleNetNS deletes ebfw-<pid>-* namespaces whose test process is
// gone (a run killed before its t.Cleanup), leaving those of live runs alone.
func removeStaleNetNS() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !strings.HasPrefix(name, nsPrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, nsPrefix), "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) != syscall.ESRCH {
			continue // its run is still alive
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}

// requireRoot skips tests that need the kernel when not root; as root a
// missing tool is a failure, not a skip.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and nftables tables (CI runs as root)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install iproute2 and nftables: %v", tool, err)
		}
	}
}

// netNS is a throwaway network namespace, deleted when the test ends.
type netNS struct {
	name string
	fd   int
}

func newNetNS(t *testing.T) *netNS {
	t.Helper()
	requireRoot(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := fmt.Sprintf("%s%d-%s", nsPrefix, os.Getpid(), hex.EncodeToString(b))
	run(t, "ip", "netns", "add", name)
	ns := &netNS{name: name, fd: -1}
	t.Cleanup(func() {
		if ns.fd >= 0 {
			_ = unix.Close(ns.fd)
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	ns.fd = fd
	ns.exec(t, "ip", "link", "set", "lo", "up")
	return ns
}

// opt targets the namespace.
func (ns *netNS) opt() Option { return WithNetNS(ns.fd) }

// exec runs a command inside the namespace and returns its stdout.
func (ns *netNS) exec(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, append([]string{"ip", "netns", "exec", ns.name}, args...)...)
}

// nft runs nft inside the namespace.
func (ns *netNS) nft(t *testing.T, args ...string) string {
	t.Helper()
	return ns.exec(t, append([]string{"nft"}, args...)...)
}

// nftFile loads an nft script into the namespace.
func (ns *netNS) nftFile(t *testing.T, script string) {
	t.Helper()
	f := writeTemp(t, script)
	ns.nft(t, "-f", f)
}

// do runs fn on an OS thread switched into the namespace, so sockets fn
// creates live there. The thread is thrown away if it cannot switch back.
func (ns *netNS) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open own netns: %w", err)
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "*.nft")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
