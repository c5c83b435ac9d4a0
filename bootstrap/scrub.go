package bootstrap

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// cloud-init keeps what it was given: these are the copies of the user
// data (which carries this node's private keys, or a group's issuer key)
// that the image tests found on a booted Debian image, all under
// /var/lib/cloud. The datasource itself (the cloud's metadata service)
// keeps it too: the firewall keeps that one root's.
var (
	// userDataCopies are emptied: cloud-init may look for them again.
	userDataCopies = []string{
		"var/lib/cloud/instances/*/user-data.txt",
		"var/lib/cloud/instances/*/user-data.txt.i",
		"var/lib/cloud/instances/*/cloud-config.txt",
		"var/lib/cloud/seed/nocloud*/user-data",
	}
	// userDataCaches are removed: obj.pkl is cloud-init's pickled
	// datasource, raw user data included; it rebuilds it on the next boot.
	userDataCaches = []string{
		"var/lib/cloud/instances/*/obj.pkl",
	}
	// cloudInitDone marks that cloud-init has finished with this instance's
	// user data; before that it may still read, and write, the copies.
	cloudInitDone = "var/lib/cloud/instances/*/boot-finished"
)

// Ignition, in the initramfs, caches the config it fetched (the node's
// payload, private keys included) in /run/ignition.json (its -config-cache
// default), and /run is carried over into the booted system. Its files
// stage writes /etc/.ignition-result.json once it has applied the config;
// nothing reads the cache after that.
const (
	ignitionConfigCache = "run/ignition.json"
	ignitionDone        = "etc/.ignition-result.json"
)

// ScrubUserDataCopies empties cloud-init's copies of the user data under
// root and removes its cached datasource, once cloud-init has finished (its
// boot-finished marker exists); the agent has installed the keys by then.
// It returns what it changed, nothing when cloud-init has not finished or
// is not on the node. Files already empty are left alone.
func ScrubUserDataCopies(root string) ([]string, error) {
	done, err := filepath.Glob(filepath.Join(root, cloudInitDone))
	if err != nil || len(done) == 0 {
		return nil, err
	}
	var changed []string
	for _, pattern := range userDataCopies {
		paths, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			return changed, err
		}
		for _, p := range paths {
			fi, err := os.Lstat(p)
			if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
				continue
			}
			if err := os.Truncate(p, 0); err != nil {
				return changed, fmt.Errorf("empty cloud-init's copy of the user data %s: %w", p, err)
			}
			changed = append(changed, p)
		}
	}
	for _, pattern := range userDataCaches {
		paths, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			return changed, err
		}
		for _, p := range paths {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return changed, fmt.Errorf("remove cloud-init's cached datasource %s: %w", p, err)
			}
			changed = append(changed, p)
		}
	}
	sort.Strings(changed)
	return changed, nil
}

// ScrubIgnitionCache empties Ignition's cached config under root once
// Ignition has applied it (its result file exists), and reports whether it
// changed it. Emptied rather than removed: it may be a mount point.
func ScrubIgnitionCache(root string) (bool, error) {
	if _, err := os.Stat(filepath.Join(root, ignitionDone)); err != nil {
		return false, nil
	}
	p := filepath.Join(root, ignitionConfigCache)
	fi, err := os.Lstat(p)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
		return false, nil
	}
	if err := os.Truncate(p, 0); err != nil {
		return false, fmt.Errorf("empty Ignition's cached config %s: %w", p, err)
	}
	return true, nil
}

// scrubUserData runs ScrubUserDataCopies and ScrubIgnitionCache from the
// watcher until it found cloud-init finished or absent; it reports whether
// there is nothing left to do.
func (a *Agent) scrubUserData() bool {
	changed, err := ScrubUserDataCopies(a.cfg.Root)
	if err != nil {
		a.log.Warn("copies of the user data not removed", "err", err)
		return false
	}
	if len(changed) > 0 {
		a.log.Info("emptied cloud-init's copies of the user data (keys are installed)", "files", changed)
	}
	ign, err := ScrubIgnitionCache(a.cfg.Root)
	if err != nil {
		a.log.Warn("Ignition's cached config not emptied", "err", err)
		return false
	}
	if ign {
		a.log.Info("emptied Ignition's cached config (keys are installed)", "file", filepath.Join(a.cfg.Root, ignitionConfigCache))
	}
	done, _ := filepath.Glob(filepath.Join(a.cfg.Root, cloudInitDone))
	_, noCloudInit := os.Stat(filepath.Join(a.cfg.Root, "var/lib/cloud"))
	return len(done) > 0 || noCloudInit != nil
}
