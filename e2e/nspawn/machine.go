package nspawn

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStateDir holds every machine's layers: <dir>/<name>/{upper,work,root}.
// It is on the same file system as /tmp here, but not a tmpfs, so a machine's
// writes (etcd's data dir) do not eat memory.
const DefaultStateDir = "/var/tmp/etcdboot-nspawn"

// stopWait bounds a clean halt before Close kills the machine.
const stopWait = 30 * time.Second

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{1,30}[a-z0-9]$`)

// Options describe one machine.
type Options struct {
	// Image is the image's root file system, the overlay's read-only lower
	// layer; it is never written.
	Image string
	// Name is the machine's name (also its directory's), unique on the
	// host: lowercase letters, digits and '-'.
	Name string
	// StateDir holds the machine's layers; default DefaultStateDir.
	StateDir string
	// NetNS is the network namespace the machine joins, /run/netns/<ns>.
	NetNS string
	// LogPath receives systemd-nspawn's own output; default <dir>/nspawn.log.
	LogPath string
	// Binds are files or directories of the host mounted into the machine
	// at boot, each "host-path:machine-path" (systemd-nspawn --bind): what
	// an initramfs leaves in /run, which nspawn's own /run would hide.
	Binds []string
}

// Machine is one copy of the image, prepared with New and started with Boot.
type Machine struct {
	opts  Options
	dir   string // <StateDir>/<Name>
	root  string // the merged overlay
	upper string // what the machine wrote

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // nspawn's exit, set before exited is closed
	leader int   // the machine's PID 1, as seen from the host
}

// New mounts a fresh copy-on-write copy of the image for a machine, after
// removing the leftovers of an earlier machine of the same name (its
// processes killed, its overlay unmounted).
func New(opts Options) (*Machine, error) {
	if !nameRE.MatchString(opts.Name) {
		return nil, fmt.Errorf("nspawn: machine name %q: want 3 to 32 lowercase letters, digits and '-'", opts.Name)
	}
	if fi, err := os.Stat(filepath.Join(opts.Image, "sbin", "init")); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("nspawn: %s is not a bootable root file system (no /sbin/init): build it with make image", opts.Image)
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir
	}
	m := &Machine{opts: opts, dir: filepath.Join(opts.StateDir, opts.Name)}
	m.root, m.upper = filepath.Join(m.dir, "root"), filepath.Join(m.dir, "upper")
	if m.opts.LogPath == "" {
		m.opts.LogPath = filepath.Join(m.dir, "nspawn.log")
	}
	if err := m.removeLayers(); err != nil {
		return nil, fmt.Errorf("nspawn: leftovers of %s: %w", opts.Name, err)
	}
	work := filepath.Join(m.dir, "work")
	for _, d := range []string{m.upper, work, m.root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("nspawn: %s: %w", opts.Name, err)
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", opts.Image, m.upper, work)
	if err := unix.Mount("overlay", m.root, "overlay", 0, data); err != nil {
		return nil, fmt.Errorf("nspawn: mount the overlay of %s (%s): %w", opts.Name, data, err)
	}
	return m, nil
}

// Name is the machine's name.
func (m *Machine) Name() string { return m.opts.Name }

// Root is the machine's root file system as the host sees it: write seeds
// there before Boot; they land in the machine's own layer.
func (m *Machine) Root() string { return m.root }

// Path is p inside the machine, as the host sees it.
func (m *Machine) Path(p string) string { return filepath.Join(m.root, p) }

// WriteFile writes a file inside the machine, making its directories.
func (m *Machine) WriteFile(p string, data []byte, mode os.FileMode) error {
	full := m.Path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return fmt.Errorf("nspawn: %s: %w", m.opts.Name, err)
	}
	if err := os.WriteFile(full, data, mode); err != nil {
		return fmt.Errorf("nspawn: %s: %w", m.opts.Name, err)
	}
	return nil
}

// Boot starts systemd-nspawn with systemd as PID 1. It returns once the
// machine's PID 1 runs; use WaitActive for its units.
func (m *Machine) Boot() error {
	if m.cmd != nil {
		return fmt.Errorf("nspawn: %s already booted", m.opts.Name)
	}
	logf, err := os.OpenFile(m.opts.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("nspawn: %s: log: %w", m.opts.Name, err)
	}
	defer logf.Close()
	args := []string{
		"--boot", "--quiet",
		// Nothing to register with: the test, not machined, owns the
		// machine, and the caller's own scope is its unit.
		"--register=no", "--keep-unit",
		"--machine=" + m.opts.Name,
		"--directory=" + m.root,
		// The agent loads nftables rules into the namespace.
		"--capability=CAP_NET_ADMIN",
		"--console=pipe",
		// journald keeps the journal in the machine's /var/log/journal,
		// where Journal reads it after the machine is gone.
		"--link-journal=no",
	}
	if m.opts.NetNS != "" {
		args = append(args, "--network-namespace-path="+m.opts.NetNS)
	}
	for _, b := range m.opts.Binds {
		args = append(args, "--bind="+b)
	}
	// The machine's systemd manages the cgroup subtree it starts in. With
	// no systemd on the host to give it a scope, that would be the host's
	// root cgroup, shared by every machine: each gets a cgroup of its own
	// in every hierarchy before systemd-nspawn starts.
	cgroups, err := m.makeCgroups()
	if err != nil {
		return err
	}
	wrapper := `for g in "$@"; do [ "$g" = -- ] && break; echo $$ > "$g/cgroup.procs" || exit 1; done
while [ "$1" != -- ]; do shift; done; shift; exec systemd-nspawn "$@"`
	m.cmd = exec.Command("sh", append(append(append([]string{"-c", wrapper, "sh"}, cgroups...), "--"), args...)...)
	m.cmd.Stdin = nil
	m.cmd.Stdout, m.cmd.Stderr = logf, logf
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	fmt.Fprintf(logf, "--- %s: systemd-nspawn %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	if err := m.cmd.Start(); err != nil {
		m.cmd = nil
		return fmt.Errorf("nspawn: boot %s: %w", m.opts.Name, err)
	}
	m.exited = make(chan struct{})
	go func() {
		err := m.cmd.Wait()
		if err != nil {
			err = fmt.Errorf("nspawn: %s: systemd-nspawn: %w (log %s)", m.opts.Name, err, m.opts.LogPath)
		}
		m.err = err
		close(m.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pid := m.findLeader(); pid != 0 {
			m.leader = pid
			return nil
		}
		select {
		case <-m.exited:
			return fmt.Errorf("nspawn: %s exited while booting: %v\n%s", m.opts.Name, m.err, tail(m.opts.LogPath, 20))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nspawn: %s: no PID 1 within 30s\n%s", m.opts.Name, tail(m.opts.LogPath, 20))
		}
	}
}

// Running reports whether systemd-nspawn still runs.
func (m *Machine) Running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// Exec runs argv inside the running machine (all its namespaces, as root)
// and returns its combined output.
func (m *Machine) Exec(ctx context.Context, argv ...string) ([]byte, error) {
	if !m.Running() || m.leader == 0 {
		return nil, fmt.Errorf("nspawn: %s is not running", m.opts.Name)
	}
	args := append([]string{"--target", strconv.Itoa(m.leader), "--mount", "--uts", "--ipc", "--net", "--pid", "--"}, argv...)
	out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("nspawn: %s: %q: %w: %s", m.opts.Name, argv, err, bytes.TrimSpace(out))
	}
	return out, nil
}

// WaitActive waits until unit is active inside the machine, failing early
// when it failed or the machine stopped.
func (m *Machine) WaitActive(ctx context.Context, unit string) error {
	for {
		out, _ := m.Exec(ctx, "systemctl", "is-active", unit)
		state := strings.TrimSpace(string(out))
		switch state {
		case "active":
			return nil
		case "failed":
			st, _ := m.Exec(ctx, "systemctl", "status", "--no-pager", "-n", "30", unit)
			return fmt.Errorf("nspawn: %s: %s failed:\n%s", m.opts.Name, unit, st)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nspawn: %s: %s is %q: %w\n%s", m.opts.Name, unit, state, ctx.Err(), m.Journal(40))
		case <-m.exited:
			return fmt.Errorf("nspawn: %s stopped while waiting for %s: %v", m.opts.Name, unit, m.err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Stop halts the machine cleanly (SIGTERM makes systemd-nspawn ask PID 1 to
// halt), and kills it if it has not stopped within wait.
func (m *Machine) Stop(wait time.Duration) error {
	if !m.Running() {
		return nil
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
		return nil
	case <-time.After(wait):
		return errors.Join(fmt.Errorf("nspawn: %s did not halt within %v; killed", m.opts.Name, wait), m.Kill())
	}
}

// Kill pulls the plug: the machine's PID 1 (and with it every process of
// the machine) and systemd-nspawn get SIGKILL. The layers stay.
func (m *Machine) Kill() error {
	if m.cmd == nil {
		return nil
	}
	if m.leader != 0 {
		_ = syscall.Kill(m.leader, syscall.SIGKILL)
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-m.exited:
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("nspawn: %s: systemd-nspawn still runs 15s after SIGKILL", m.opts.Name)
	}
}

// Close stops the machine, unmounts its overlay and removes its layers and
// cgroups.
func (m *Machine) Close() error {
	err := m.Stop(stopWait)
	return errors.Join(err, m.removeLayers(), m.removeCgroups())
}

// Journal returns the last n lines of the machine's persistent journal (it
// is readable after the machine stopped too).
// With units, only their records.
func (m *Machine) Journal(n int, units ...string) string {
	args := []string{"--no-pager", "-o", "short-precise", "-n", strconv.Itoa(n), "-D", m.Path("var/log/journal")}
	for _, u := range units {
		args = append(args, "-u", u)
	}
	out, err := exec.Command("journalctl", args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(journal of %s: %v: %s)", m.opts.Name, err, out)
	}
	return string(out)
}

// findLeader finds the machine's PID 1: the child of systemd-nspawn whose
// innermost PID is 1.
func (m *Machine) findLeader() int {
	if m.cmd == nil || m.cmd.Process == nil {
		return 0
	}
	return leaderOf(m.cmd.Process.Pid)
}

// processes lists the PIDs of every process in /proc, or none when /proc
// cannot be read.
func processes() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// leaderOf finds the child of an nspawn process that is PID 1 of its own PID
// namespace, or 0.
func leaderOf(nspawnPid int) int {
	for _, pid := range processes() {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		var ppid, nsPid1 bool
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "PPid:":
				ppid = f[1] == strconv.Itoa(nspawnPid)
			case len(f) > 2 && f[0] == "NSpid:":
				nsPid1 = f[len(f)-1] == "1"
			}
		}
		if ppid && nsPid1 {
			return pid
		}
	}
	return 0
}

// tail is the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
