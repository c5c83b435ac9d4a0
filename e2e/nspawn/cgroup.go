package nspawn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// cgroupRoots are the host's cgroup hierarchies a machine needs a cgroup in:
// the unified one and, on a hybrid or legacy host, systemd's named one.
func cgroupRoots() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.procs"); err == nil {
		return []string{"/sys/fs/cgroup"} // pure cgroup v2
	}
	var roots []string
	for _, r := range []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"} {
		if _, err := os.Stat(filepath.Join(r, "cgroup.procs")); err == nil {
			roots = append(roots, r)
		}
	}
	return roots
}

// cgroupDirs are the machine's cgroups, one per hierarchy.
func (m *Machine) cgroupDirs() []string {
	var dirs []string
	for _, r := range cgroupRoots() {
		dirs = append(dirs, filepath.Join(r, "etcdboot-nspawn", m.opts.Name))
	}
	return dirs
}

func (m *Machine) makeCgroups() ([]string, error) {
	if err := m.removeCgroups(); err != nil {
		return nil, err
	}
	dirs := m.cgroupDirs()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("nspawn: %s: cgroup: %w", m.opts.Name, err)
		}
	}
	return dirs, nil
}

// removeCgroups removes the machine's cgroups, innermost first (the
// machine's systemd leaves its slices behind).
func (m *Machine) removeCgroups() error {
	var errs []error
	for _, d := range m.cgroupDirs() {
		var sub []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				sub = append(sub, p)
			}
			return nil
		})
		for i := len(sub) - 1; i >= 0; i-- {
			if err := os.Remove(sub[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("nspawn: %s: remove cgroup: %w", m.opts.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
