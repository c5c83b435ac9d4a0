package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Host is one network namespace on the lab's bridge.
type Host struct {
	// Name is the host's name within the lab, e.g. "etcd1".
	Name string
	// NS is the network namespace, "<prefix>-<name>", as `ip netns` knows it.
	NS string
	// Addr is the address of the host's eth0 on the bridge.
	Addr netip.Addr

	lab *Lab

	mu      sync.Mutex
	blocked map[netip.Addr]bool // see Block
}

// hostsFile is /etc/hosts inside every host. `ip netns exec` bind-mounts
// /etc/netns/<ns>/hosts over /etc/hosts, which keeps a program from editing
// the machine's real one.
const hostsFile = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
`

// AddHost creates namespace "<prefix>-<name>" with lo up and eth0 holding
// addr on the lab's subnet, plugged into the bridge, and its /etc/netns
// directory with an /etc/hosts of localhost lines. The name must leave
// "<prefix>-<name>" at most 15 characters.
func (l *Lab) AddHost(name string, addr netip.Addr) (*Host, error) {
	if err := checkHostName(l.opts.Prefix, name); err != nil {
		return nil, err
	}
	if err := usableAddr(l.opts.Subnet, addr); err != nil {
		return nil, fmt.Errorf("netlab: host %s: %w", name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	if addr == l.opts.HostAddr {
		return nil, fmt.Errorf("netlab: host %s: %s is the root namespace's address (Options.HostAddr)", name, addr)
	}
	for _, h := range l.hosts {
		if h.Name == name || h.Addr == addr {
			return nil, fmt.Errorf("netlab: host %s %s: host %s already has that name or address", name, addr, h.Name)
		}
	}

	h := &Host{Name: name, NS: objName(l.opts.Prefix, name), Addr: addr, lab: l, blocked: map[netip.Addr]bool{}}
	if err := h.create(); err != nil {
		return nil, errors.Join(err, h.destroy())
	}
	l.hosts = append(l.hosts, h)
	return h, nil
}

// create makes the namespace, its veth onto the bridge and its /etc/netns.
func (h *Host) create() error {
	ctx := context.Background()
	hub := h.lab.hubNS()
	br := objName(h.lab.opts.Prefix, bridgeSuffix)
	// The bridge end of the veth lives in the hub namespace and has the
	// host's namespace name; the host's end is eth0.
	steps := [][]string{
		{"netns", "add", h.NS},
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", hub, "link", "add", h.NS, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", hub, "link", "set", h.NS, "master", br, "up"},
		{"-n", h.NS, "addr", "add", fmt.Sprintf("%s/%d", h.Addr, h.lab.opts.Subnet.Bits()), "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
	}
	for _, s := range steps {
		if _, err := ip(ctx, s...); err != nil {
			return fmt.Errorf("netlab: add host %s: %w", h.Name, err)
		}
	}
	if err := os.MkdirAll(h.etcDir(), 0o755); err != nil {
		return fmt.Errorf("netlab: add host %s: %w", h.Name, err)
	}
	if err := os.WriteFile(filepath.Join(h.etcDir(), "hosts"), []byte(hostsFile), 0o644); err != nil {
		return fmt.Errorf("netlab: add host %s: %w", h.Name, err)
	}
	return nil
}

// destroy undoes a partly created host.
func (h *Host) destroy() error {
	ctx := context.Background()
	var errs []error
	if _, err := os.Stat(filepath.Join(netnsDir, h.NS)); err == nil {
		errs = append(errs, killNamespacePids(ctx, h.NS))
		if _, err := ip(ctx, "netns", "del", h.NS); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, os.RemoveAll(h.etcDir()))
	return errors.Join(errs...)
}

// etcDir is /etc/netns/<ns>: files in it replace those of /etc for programs
// run through `ip netns exec`.
func (h *Host) etcDir() string { return filepath.Join(etcNetnsDir, h.NS) }

// SetResolvConf makes /etc/resolv.conf inside the host list these name
// servers (Go's resolver honours it). It applies to processes started
// afterwards: `ip netns exec` bind-mounts the file when a process starts, and
// only if the machine has an /etc/resolv.conf to mount over.
func (h *Host) SetResolvConf(nameservers ...netip.Addr) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by netlab for host %s\n", h.Name)
	for _, ns := range nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if err := os.MkdirAll(h.etcDir(), 0o755); err != nil {
		return fmt.Errorf("netlab: host %s: resolv.conf: %w", h.Name, err)
	}
	if err := os.WriteFile(filepath.Join(h.etcDir(), "resolv.conf"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("netlab: host %s: resolv.conf: %w", h.Name, err)
	}
	return nil
}

// Run runs argv inside the host to completion and returns its combined
// output. The error carries the output too. Cancelling ctx kills the command's
// whole process group.
func (h *Host) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("netlab: host %s: run: empty command", h.Name)
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A child that outlives the command keeps the output pipe open; do not
	// wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netlab: host %s: run %q: %w: %s", h.Name, argv, err, bytes.TrimSpace(out))
	}
	return out, nil
}

// NSFd opens the host's network namespace, /run/netns/<ns>, for netlink users
// such as google/nftables; the caller closes the descriptor.
func (h *Host) NSFd() (int, error) {
	path := filepath.Join(netnsDir, h.NS)
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("netlab: host %s: open %s: %w", h.Name, path, err)
	}
	return fd, nil
}

// String returns "name (addr)".
func (h *Host) String() string { return fmt.Sprintf("%s (%s)", h.Name, h.Addr) }
