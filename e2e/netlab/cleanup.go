package netlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// netnsDir is where `ip netns` keeps its named namespaces.
	netnsDir = "/run/netns"
	// etcNetnsDir holds the per-namespace files `ip netns exec` bind-mounts
	// over /etc.
	etcNetnsDir = "/etc/netns"
	// killWait bounds the wait for a SIGKILLed process to be gone.
	killWait = 10 * time.Second
)

// removeOwned removes every object named "<prefix>-*": the processes in such
// namespaces, the namespaces, the links in the root namespace and the
// /etc/netns directories. It is how New clears a killed run's leftovers and
// how Close tears a lab down, so both are the same tested code. It keeps going
// after an error and returns them all.
func removeOwned(ctx context.Context, prefix string) error {
	var errs []error
	namespaces, err := listOwned(netnsDir, prefix)
	if err != nil {
		errs = append(errs, err)
	}
	// Processes first: a process keeps its namespace, its sockets and
	// its ports alive after `ip netns del`.
	for _, ns := range namespaces {
		if err := killNamespacePids(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	// The root namespace's end of the lab is the one link whose removal
	// others can observe; delete it explicitly rather than leaving it to
	// the kernel's asynchronous namespace teardown (1-3 s).
	links, err := rootLinks(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, link := range links {
		if owned(prefix, link) {
			if _, err := ip(ctx, "link", "del", "dev", link); err != nil && linkExists(ctx, link) {
				errs = append(errs, fmt.Errorf("netlab: remove link: %w", err))
			}
		}
	}
	for _, ns := range namespaces {
		if _, err := ip(ctx, "netns", "del", ns); err != nil {
			if _, statErr := os.Stat(filepath.Join(netnsDir, ns)); statErr == nil {
				errs = append(errs, fmt.Errorf("netlab: remove namespace: %w", err))
			}
		}
	}
	dirs, err := listOwned(etcNetnsDir, prefix)
	if err != nil {
		errs = append(errs, err)
	}
	for _, d := range dirs {
		if err := os.RemoveAll(filepath.Join(etcNetnsDir, d)); err != nil {
			errs = append(errs, fmt.Errorf("netlab: remove %s: %w", filepath.Join(etcNetnsDir, d), err))
		}
	}
	return errors.Join(errs...)
}

// listOwned lists the entries of dir that belong to prefix; a missing dir has
// none.
func listOwned(dir, prefix string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netlab: list %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if owned(prefix, e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// rootLinks lists the names of the links in the root namespace.
func rootLinks(ctx context.Context) ([]string, error) {
	out, err := ip(ctx, "-j", "link", "show")
	if err != nil {
		return nil, fmt.Errorf("netlab: list links: %w", err)
	}
	var links []struct {
		IfName string `json:"ifname"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("netlab: parse `ip -j link show`: %w: %s", err, out)
	}
	names := make([]string, len(links))
	for i, l := range links {
		names[i] = l.IfName
	}
	return names, nil
}

// linkExists reports whether the root namespace has a link called name.
func linkExists(ctx context.Context, name string) bool {
	_, err := ip(ctx, "link", "show", "dev", name)
	return err == nil
}

// killNamespacePids SIGKILLs every process in namespace ns and waits until
// they are gone: a killed process holds its ports until it has exited.
func killNamespacePids(ctx context.Context, ns string) error {
	out, err := ip(ctx, "netns", "pids", ns)
	if err != nil {
		return fmt.Errorf("netlab: list processes in namespace %s: %w", ns, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("netlab: `ip netns pids %s` printed %q, not a pid", ns, f)
		}
		if pid == os.Getpid() {
			continue // never ourselves, whatever namespace we were started in
		}
		pids = append(pids, pid)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("netlab: kill pid %d in namespace %s: %w", pid, ns, err)
		}
	}
	deadline := time.Now().Add(killWait)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("netlab: pid %d in namespace %s still alive %s after SIGKILL (stuck in the kernel?)", pid, ns, killWait)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// alive reports whether pid exists and is not a zombie (a zombie has released
// its sockets and namespaces; only its parent can reap it).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself contain ") ".
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return true
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}
