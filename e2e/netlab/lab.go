package netlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// ErrClosed is returned by a Lab's methods after Close.
var ErrClosed = errors.New("netlab: lab is closed")

// ErrBusy is returned by New when another live lab holds the same prefix or
// subnet for longer than Options.LockWait.
var ErrBusy = errors.New("netlab: prefix or subnet in use")

// Lab is a set of hosts on one bridge and the processes running on them.
//
// The bridge lives in its own namespace, "<prefix>-hub", not in the root
// namespace: bridged frames then pass only that namespace's (empty) netfilter
// hooks, so the lab works whatever the machine's bridge-nf-call-iptables
// setting and FORWARD policy (docker sets it to DROP) are, and the lab changes
// no global setting. The root namespace reaches the bridge through one veth,
// "<prefix>-root", carrying HostAddr.
type Lab struct {
	opts  Options
	locks []*fileLock

	mu        sync.Mutex
	closed    bool
	hosts     []*Host
	procs     []*Process
	logsOpen  map[string]bool // log files truncated by this lab already
	closeOnce chan struct{}   // closed by Close; stops CloseOnSignal's goroutine
}

// New removes the leftovers of an earlier run with the same prefix and creates
// the bridge with HostAddr on the root namespace's side. It waits up to
// opts.LockWait while another live lab uses the same prefix or subnet.
func New(opts Options) (*Lab, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, tool := range []string{"ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("netlab: %w; install iproute2", err)
		}
	}
	if opts.LogDir != "" {
		if err := os.MkdirAll(opts.LogDir, 0o755); err != nil {
			return nil, fmt.Errorf("netlab: log dir: %w", err)
		}
	}

	l := &Lab{opts: opts, logsOpen: map[string]bool{}, closeOnce: make(chan struct{})}
	// The prefix lock first, then the subnet lock, always in this order.
	lk, err := acquireLock("prefix-"+opts.Prefix+".lock", "prefix "+opts.Prefix, opts.LockWait)
	if err != nil {
		return nil, err
	}
	l.locks = append(l.locks, lk)
	lk, err = acquireLock("subnet-"+strings.NewReplacer(".", "_", "/", "_").Replace(opts.Subnet.String())+".lock",
		"subnet "+opts.Subnet.String(), opts.LockWait)
	if err != nil {
		l.releaseLocks()
		return nil, err
	}
	l.locks = append(l.locks, lk)

	ctx := context.Background()
	if err := removeOwned(ctx, opts.Prefix); err != nil {
		l.releaseLocks()
		return nil, fmt.Errorf("netlab: remove leftovers of an earlier run with prefix %q: %w", opts.Prefix, err)
	}
	if err := checkSubnetFree(ctx, opts.Subnet); err != nil {
		l.releaseLocks()
		return nil, err
	}
	if err := l.createBridge(ctx); err != nil {
		err = errors.Join(err, removeOwned(ctx, opts.Prefix))
		l.releaseLocks()
		return nil, err
	}
	if l.opts.LogDir == "" {
		// Made last so that a failed New leaves no directory behind.
		if l.opts.LogDir, err = os.MkdirTemp("", "netlab-"+opts.Prefix+"-"); err != nil {
			return nil, errors.Join(fmt.Errorf("netlab: log dir: %w", err), l.Close())
		}
	}
	return l, nil
}

// createBridge makes the hub namespace, its bridge, and the veth from the root
// namespace onto it.
func (l *Lab) createBridge(ctx context.Context) error {
	hub := l.hubNS()
	br := objName(l.opts.Prefix, bridgeSuffix)
	root := objName(l.opts.Prefix, rootSuffix)
	steps := [][]string{
		{"netns", "add", hub},
		{"-n", hub, "link", "set", "lo", "up"},
		// No STP and no forwarding delay: ports forward as soon as
		// they are up.
		{"-n", hub, "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"-n", hub, "link", "set", br, "up"},
		{"link", "add", root, "type", "veth", "peer", "name", root, "netns", hub},
		{"-n", hub, "link", "set", root, "master", br, "up"},
		{"addr", "add", l.opts.HostAddr.String() + "/" + fmt.Sprint(l.opts.Subnet.Bits()), "dev", root},
		{"link", "set", root, "up"},
	}
	for _, s := range steps {
		if _, err := ip(ctx, s...); err != nil {
			return fmt.Errorf("netlab: create bridge: %w", err)
		}
	}
	return nil
}

// checkSubnetFree fails if the root namespace already routes part of subnet:
// the lab's traffic would then go to the wrong interface.
func checkSubnetFree(ctx context.Context, subnet netip.Prefix) error {
	out, err := ip(ctx, "-j", "-4", "route", "show")
	if err != nil {
		return fmt.Errorf("netlab: list routes: %w", err)
	}
	var routes []struct {
		Dst string `json:"dst"`
		Dev string `json:"dev"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return fmt.Errorf("netlab: parse `ip -j -4 route show`: %w: %s", err, out)
	}
	for _, r := range routes {
		if r.Dst == "default" {
			continue
		}
		p, err := netip.ParsePrefix(r.Dst)
		if err != nil {
			a, aerr := netip.ParseAddr(r.Dst)
			if aerr != nil {
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Overlaps(subnet) {
			return fmt.Errorf("netlab: subnet %s overlaps route %s dev %s in the root namespace; remove it or choose another Options.Subnet", subnet, r.Dst, r.Dev)
		}
	}
	return nil
}

// Options returns the lab's options with defaults filled in.
func (l *Lab) Options() Options { return l.opts }

// LogDir returns the directory holding the processes' logs.
func (l *Lab) LogDir() string { return l.opts.LogDir }

// HostAddr returns the root namespace's address on the bridge.
func (l *Lab) HostAddr() netip.Addr { return l.opts.HostAddr }

// Hosts returns the lab's hosts in the order they were added.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.hosts...)
}

// Processes returns every process started in the lab, running or not, in
// start order.
func (l *Lab) Processes() []*Process {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Process(nil), l.procs...)
}

// hubNS names the namespace holding the bridge.
func (l *Lab) hubNS() string { return objName(l.opts.Prefix, hubSuffix) }

// Close kills every process the lab started (SIGKILL to each process group,
// then waits for the exits), then removes everything named "<prefix>-*":
// remaining processes in its namespaces, the namespaces, links and /etc/netns
// directories. It keeps going after an error and returns all of them. Close is
// idempotent; calls after the first return nil. Logs are kept.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.closeOnce)

	var errs []error
	for _, p := range l.procs {
		if err := p.kill(killWait); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeOwned(context.Background(), l.opts.Prefix); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, l.releaseLocks())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netlab: close lab %q: %w", l.opts.Prefix, err)
	}
	return nil
}

func (l *Lab) releaseLocks() error {
	var errs []error
	for i := len(l.locks) - 1; i >= 0; i-- {
		errs = append(errs, l.locks[i].release())
	}
	l.locks = nil
	return errors.Join(errs...)
}

// CloseOnSignal makes a SIGINT or SIGTERM close the lab and exit the program
// with status 130, so an interrupted `make demo` leaves nothing behind. Call it
// once, right after New; it stops listening when the lab is closed.
func (l *Lab) CloseOnSignal() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		defer signal.Stop(sigs)
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "netlab: %v: removing lab %q\n", sig, l.opts.Prefix)
			if err := l.Close(); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			os.Exit(130)
		case <-l.closeOnce:
		}
	}()
}
