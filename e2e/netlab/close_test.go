package netlab

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ownedObjects lists what the root namespace shows of prefix: namespaces,
// links and /etc/netns entries.
func ownedObjects(t *testing.T, prefix string) []string {
	t.Helper()
	var found []string
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	for _, f := range strings.Fields(string(out)) {
		if owned(prefix, f) {
			found = append(found, "netns "+f)
		}
	}
	out, err = exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v: %s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// "7: ebnl-root@if2: <...": the name is the second field.
		if f := strings.Fields(line); len(f) > 1 && owned(prefix, strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]) {
			found = append(found, "link "+f[1])
		}
	}
	dirs, _ := listOwned(etcNetnsDir, prefix)
	for _, d := range dirs {
		found = append(found, "dir "+filepath.Join(etcNetnsDir, d))
	}
	return found
}

// liveGroupMembers lists the processes of group pgid that are not zombies
// (orphaned zombies wait for init to reap them; they hold nothing).
func liveGroupMembers(t *testing.T, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, err := syscall.Getpgid(pid); err == nil && g == pgid && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestCloseRemovesEverythingAndKillsProcesses(t *testing.T) {
	RequireRoot(t)
	opts := testOptions()
	opts.LogDir = t.TempDir()
	lab, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lab.Close() })
	a, err := lab.AddHost("a", addrA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.AddHost("b", addrB); err != nil {
		t.Fatal(err)
	}
	if err := a.SetResolvConf(addrB); err != nil {
		t.Fatal(err)
	}
	if err := a.Block(addrB); err != nil {
		t.Fatal(err)
	}
	// A process that ignores SIGTERM and has a child: Close must still
	// end both.
	p, err := a.Start("stubborn", []string{"sh", "-c", "trap '' TERM; sleep 1000 & wait"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 3 namespaces (hub, a, b), 1 link (root), 2 /etc/netns dirs.
	if got := ownedObjects(t, testPrefix); len(got) != 6 {
		t.Errorf("before Close: %d objects %v, want 6", len(got), got)
	}

	start := time.Now()
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %s", time.Since(start))
	if got := ownedObjects(t, testPrefix); len(got) != 0 {
		t.Errorf("after Close: %v left", got)
	}
	select {
	case <-p.Exited():
	default:
		t.Error("process still running after Close")
	}
	if left := liveGroupMembers(t, p.Pid()); len(left) != 0 {
		t.Errorf("process group %d still has live members after Close: %v", p.Pid(), left)
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := lab.AddHost("c", addrA); !errors.Is(err, ErrClosed) {
		t.Errorf("AddHost after Close = %v, want ErrClosed", err)
	}
	// The locks went with the lab: a new one needs no waiting.
	opts.LockWait = -1
	again, err := New(opts)
	if err != nil {
		t.Fatalf("New right after Close: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewRemovesLeftoversOfAKilledRun(t *testing.T) {
	RequireRoot(t)
	ctx := context.Background()
	must := func(argv ...string) {
		t.Helper()
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%q: %v: %s", argv, err, out)
		}
	}
	// What a run killed mid-test leaves: namespaces (one with a process
	// in it), the root link with the lab's address and route, an
	// /etc/netns directory. Plus another lab's namespace, which must stay.
	removeOwned(ctx, testPrefix)
	must("ip", "netns", "add", testPrefix+"-stale")
	must("ip", "netns", "add", testPrefix+"-hub")
	// This kernel has no dummy links; a veth pair does as well.
	must("ip", "link", "add", testPrefix+"-root", "type", "veth", "peer", "name", testPrefix+"-rootp")
	must("ip", "addr", "add", "10.123.0.1/24", "dev", testPrefix+"-root")
	must("ip", "link", "set", testPrefix+"-root", "up")
	must("ip", "link", "add", testPrefix+"-old", "type", "veth", "peer", "name", testPrefix+"-oldp")
	must("mkdir", "-p", filepath.Join(etcNetnsDir, testPrefix+"-stale"))
	must("ip", "netns", "add", testPrefix+"keep-x")
	t.Cleanup(func() { exec.Command("ip", "netns", "del", testPrefix+"keep-x").Run() })

	orphan := exec.Command("ip", "netns", "exec", testPrefix+"-stale", "sleep", "1000")
	orphan.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	orphanDone := make(chan error, 1)
	go func() { orphanDone <- orphan.Wait() }()
	t.Cleanup(func() { orphan.Process.Kill() })
	// Wait until the orphan is in the namespace.
	for deadline := time.Now().Add(5 * time.Second); ; {
		out, _ := exec.Command("ip", "netns", "pids", testPrefix+"-stale").Output()
		if strings.TrimSpace(string(out)) != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("orphan never entered the stale namespace")
		}
		time.Sleep(20 * time.Millisecond)
	}

	lab := NewForTest(t, testOptions())
	select {
	case err := <-orphanDone:
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("orphan ended with %v, want killed", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the process in the stale namespace is still running after New")
	}
	got := ownedObjects(t, testPrefix)
	if len(got) != 2 || got[0] != "netns "+testPrefix+"-hub" || !strings.HasPrefix(got[1], "link "+testPrefix+"-root@") {
		t.Errorf("after New: %v, want only the new lab's hub namespace and root link", got)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, testPrefix+"keep-x")); err != nil {
		t.Errorf("another prefix's namespace was removed: %v", err)
	}
	// The new lab works on the address the leftover held.
	if _, err := lab.AddHost("a", addrA); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefusesASubnetInUse(t *testing.T) {
	RequireRoot(t)
	lab := NewForTest(t, testOptions())
	// Another lab on the same subnet waits for the lock, here not at all.
	opts := testOptions()
	opts.Prefix = testPrefix + "b"
	opts.LockWait = -1
	if other, err := New(opts); !errors.Is(err, ErrBusy) {
		if other != nil {
			other.Close()
		}
		t.Errorf("second lab on %s: %v, want ErrBusy", opts.Subnet, err)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}

	// Something else routing the subnet is refused with the device named.
	const dummy = "ebnlr-other"
	if out, err := exec.Command("ip", "link", "add", dummy, "type", "veth", "peer", "name", dummy+"p").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", dummy).Run() })
	for _, argv := range [][]string{{"addr", "add", "10.123.0.200/24", "dev", dummy}, {"link", "set", dummy, "up"}} {
		if out, err := exec.Command("ip", argv...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	opts = testOptions()
	opts.LockWait = -1
	if other, err := New(opts); err == nil || !strings.Contains(err.Error(), "dev "+dummy) {
		if other != nil {
			other.Close()
		}
		t.Errorf("New with %s routed via %s: %v, want an error naming the device", opts.Subnet, dummy, err)
	}
	if got := ownedObjects(t, testPrefix); len(got) != 0 {
		t.Errorf("failed New left %v", got)
	}
}

func TestCloseOnSignalRemovesTheLabAndExits130(t *testing.T) {
	RequireRoot(t)
	const prefix = "ebnls"
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	demo := exec.Command(exe)
	// TMPDIR: the demo's default log directory goes under it.
	demo.Env = append(os.Environ(), helperEnv+"=demo", "NETLAB_ADDR="+prefix, "TMPDIR="+t.TempDir())
	stdout, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	demo.Stderr = &stderr
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		demo.Process.Kill()
		removeOwned(context.Background(), prefix)
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			t.Fatalf("demo printed %q; stderr: %s", line, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("demo not ready after 20s; stderr: %s", stderr.String())
	}
	if got := ownedObjects(t, prefix); len(got) != 4 {
		t.Errorf("running demo lab: %v, want hub and a namespaces, root link, a's /etc/netns", got)
	}

	if err := demo.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = demo.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 130 {
		t.Errorf("demo after SIGINT: %v, want exit status 130; stderr: %s", err, stderr.String())
	}
	if got := ownedObjects(t, prefix); len(got) != 0 {
		t.Errorf("after SIGINT: %v left", got)
	}
}
