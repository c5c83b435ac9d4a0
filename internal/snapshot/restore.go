package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// RestoreOptions are `etcdutl snapshot restore`'s flags for one member.
type RestoreOptions struct {
	// Snapshot is the snapshot file.
	Snapshot string
	// SHA256 is the hex digest the file must have: the one the restore was
	// planned with, so every member restores the same snapshot.
	SHA256 string
	// Name is the member's name (--name).
	Name string
	// InitialCluster lists every member as name=peerURL (--initial-cluster).
	InitialCluster string
	// InitialClusterToken is the restored cluster's new token.
	InitialClusterToken string
	// InitialAdvertisePeerURLs are this member's peer URLs.
	InitialAdvertisePeerURLs []string
	// DataDir receives the restored member. It must not exist, or be an
	// empty directory: an old data dir is the caller's to move aside.
	DataDir string
}

// ErrSHA256Mismatch means the snapshot file is not the one a restore names.
var ErrSHA256Mismatch = errors.New("snapshot sha256 mismatch")

// ErrDataDirExists means the restore's data dir holds something already.
var ErrDataDirExists = errors.New("data dir exists")

// Restore checks the snapshot's sha256 against opts.SHA256, then rebuilds a
// member from it with etcdutl's restore (which checks etcd's own appended
// hash too): a new WAL and raft snapshot for the new cluster, the
// keyspace and its revision kept. It restores into a temporary directory
// beside DataDir and renames it into place, so DataDir is either absent or
// complete. It never deletes or overwrites an existing data dir.
func Restore(opts RestoreOptions) error {
	if err := opts.check(); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if err := checkDataDirFree(opts.DataDir); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	// One read checks both digests: the file's sha256 against the plan's,
	// and etcd's appended hash, which etcdutl then need not read again.
	sum, verifyErr := verifyFile(opts.Snapshot)
	if verifyErr != nil {
		// A file that is not the planned snapshot is said to be that first.
		if sum, err := fileSHA256(opts.Snapshot); err == nil && !strings.EqualFold(sum, opts.SHA256) {
			return mismatch(opts, sum)
		}
		return fmt.Errorf("restore snapshot: %w", verifyErr)
	}
	if !strings.EqualFold(sum, opts.SHA256) {
		return mismatch(opts, sum)
	}
	parent, base := filepath.Dir(opts.DataDir), filepath.Base(opts.DataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+base+".restore-*")
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	done := false
	defer func() {
		if !done {
			// Only the temporary directory this call made and filled.
			os.RemoveAll(tmp)
		}
	}()
	if err := restoreInto(tmp, opts); err != nil {
		return fmt.Errorf("restore snapshot %s into %s: %w", opts.Snapshot, opts.DataDir, err)
	}
	if err := syncTree(tmp); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	// rename(2) replaces an empty directory and refuses a non-empty one, so a
	// data dir that appeared meanwhile is never overwritten. os.Rename would
	// refuse every existing directory.
	if err := syscall.Rename(tmp, opts.DataDir); err != nil {
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("restore snapshot: %w: %s was filled while restoring; move it aside and retry", ErrDataDirExists, opts.DataDir)
		}
		return fmt.Errorf("restore snapshot: move %s to %s: %w", tmp, opts.DataDir, err)
	}
	done = true
	syncDir(parent)
	return nil
}

// mismatch is the error for a snapshot file whose sha256 is sum, not the
// one opts plans with.
func mismatch(opts RestoreOptions, sum string) error {
	return fmt.Errorf("restore snapshot: %w: %s has sha256 %s, but the restore expects %s: it is not the snapshot "+
		"the restore was planned with (replaced, cut short or damaged in transit); copy the planned snapshot again",
		ErrSHA256Mismatch, opts.Snapshot, sum, strings.ToLower(opts.SHA256))
}

func (o RestoreOptions) check() error {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"snapshot", o.Snapshot}, {"sha256", o.SHA256}, {"name", o.Name}, {"initial cluster", o.InitialCluster},
		{"initial cluster token", o.InitialClusterToken}, {"data dir", o.DataDir},
	} {
		if f.value == "" {
			missing = append(missing, f.name)
		}
	}
	if len(o.InitialAdvertisePeerURLs) == 0 {
		missing = append(missing, "peer URLs")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if b, err := hex.DecodeString(o.SHA256); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("sha256 %q is not a hex sha256 digest", o.SHA256)
	}
	return nil
}

// restoreInto runs etcdutl's restore of a snapshot whose appended hash
// Restore has checked already (so etcdutl skips its own read for it); its
// logger stays quiet, errors say it all.
func restoreInto(dataDir string, opts RestoreOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("etcdutl restore panicked: %v", r)
		}
	}()
	return etcdutl.NewV3(zap.NewNop()).Restore(etcdutl.RestoreConfig{
		SnapshotPath:        opts.Snapshot,
		Name:                opts.Name,
		OutputDataDir:       dataDir,
		PeerURLs:            opts.InitialAdvertisePeerURLs,
		InitialCluster:      opts.InitialCluster,
		InitialClusterToken: opts.InitialClusterToken,
		SkipHashCheck:       true,
	})
}

// checkDataDirFree accepts a missing data dir or an empty directory.
func checkDataDirFree(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a directory; move it aside", ErrDataDirExists, dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%w: %s is not empty; move it aside first (a restore never deletes or overwrites a data dir)", ErrDataDirExists, dir)
	}
	return nil
}

// Copy copies the snapshot src to dst (a temporary file, fsync, rename)
// and writes dst.sha256, refusing when the copy's digest is not sum.
func Copy(src, dst, sum string) error {
	if a, err := os.Stat(src); err == nil {
		if b, err := os.Stat(dst); err == nil && os.SameFile(a, b) {
			return writeChecksumFile(dst, sum)
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy snapshot: %w", err)
	}
	defer in.Close()
	dir, base := filepath.Dir(dst), filepath.Base(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("copy snapshot: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+base+".part-*")
	if err != nil {
		return fmt.Errorf("copy snapshot: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), in); err != nil {
		return fmt.Errorf("copy snapshot %s to %s: %w", src, dst, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, sum) {
		return fmt.Errorf("copy snapshot: %w: %s changed while it was copied (sha256 %s, expected %s)", ErrSHA256Mismatch, src, got, sum)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("copy snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("copy snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("copy snapshot: %w", err)
	}
	syncDir(dir)
	return writeChecksumFile(dst, sum)
}

// fileSHA256 is the hex sha256 of a file's content.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// syncTree fsyncs every directory under root, so renaming root into place
// publishes entries that are on disk.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return syncPath(p)
		}
		return nil
	})
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}

// syncDir makes a rename in dir durable; it is best effort, as in atomicfile.
func syncDir(dir string) {
	_ = syncPath(dir)
}
