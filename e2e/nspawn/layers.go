package nspawn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
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
	infos, err := mountinfo.GetMounts(mountinfo.PrefixFilter(filepath.Clean(dir)))
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range infos {
		out = append(out, m.Mountpoint)
	}
	return out
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
