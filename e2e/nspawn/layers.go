package nspawn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// removeLayers kills every process running from the machine's root,
// unmounts the overlay and removes the directory. It never removes a tree
// with a mount left in it.
func (m *Machine) removeLayers() error {
	if _, err := os.Stat(m.dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	// A machine of this name still running (a killed test's) goes first:
	// its PID 1 takes every process of the machine with it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := nspawnProcesses(m.opts.Name)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if leader := leaderOf(pid); leader != 0 {
				_ = syscall.Kill(leader, syscall.SIGKILL)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("systemd-nspawn %v of %s survives SIGKILL", pids, m.opts.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; mounted(m.root); i++ {
		err := unix.Unmount(m.root, 0)
		if err != nil && i >= 20 {
			if err := unix.Unmount(m.root, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s: %w", m.root, err)
			}
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if under := mountsUnder(m.dir); len(under) > 0 {
		return fmt.Errorf("%s still has mounts %v; not removing it", m.dir, under)
	}
	if err := os.RemoveAll(m.dir); err != nil {
		return fmt.Errorf("remove %s: %w", m.dir, err)
	}
	return nil
}

// nspawnProcesses lists the systemd-nspawn processes running the machine
// called name.
func nspawnProcesses(name string) []int {
	var pids []int
	for _, pid := range processes() {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) == "systemd-nspawn" && slices.Contains(args, "--machine="+name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func mounted(path string) bool { return len(mountsUnder(path)) > 0 }

// mountsUnder lists the mount points at or below dir in this mount namespace.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Reimage puts the stopped machine's disk (its overlay's upper layer: all
// it wrote) under another image: layers, topmost first, stacked over the
// original image, as a node rebooted onto a new image with its disk kept.
// Boot it again afterwards.
func (m *Machine) Reimage(layers ...string) error {
	if m.Running() {
		return fmt.Errorf("nspawn: reimage %s: stop it first", m.opts.Name)
	}
	for i := 0; mounted(m.root); i++ {
		if err := unix.Unmount(m.root, 0); err != nil {
			if i >= 20 {
				return fmt.Errorf("nspawn: reimage %s: unmount %s: %w", m.opts.Name, m.root, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	lower := strings.Join(append(slices.Clone(layers), m.opts.Image), ":")
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, m.upper, filepath.Join(m.dir, "work"))
	if err := unix.Mount("overlay", m.root, "overlay", 0, data); err != nil {
		return fmt.Errorf("nspawn: reimage %s (%s): %w", m.opts.Name, data, err)
	}
	m.cmd, m.leader = nil, 0
	return nil
}
