package backupstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/etcdboot/etcdboot/internal/snapshot"
)

// hashSize is the length of the sha256 etcd appends to a snapshot: the
// object is the database and its hash.
const hashSize = sha256.Size

// errBadManifest marks a manifest that exists but does not parse.
var errBadManifest = errors.New("bad manifest")

// Expect is what a caller requires of a backup it fetches; empty fields
// accept any.
type Expect struct {
	// Cluster is the cluster's name.
	Cluster string
	// ClusterID is etcd's cluster ID in hex (a restored cluster has a new
	// one, so recovery leaves it empty and checks the name).
	ClusterID string
	// Recheck reads the database (bbolt's check, revision, key count and
	// size) even when the manifest says its writer did: for a status.
	Recheck bool
}

// Manifest reads the manifest of backup name.
func (s *Store) Manifest(ctx context.Context, name string) (Manifest, error) {
	if err := checkName(name); err != nil {
		return Manifest{}, err
	}
	return s.readManifest(ctx, name)
}

func (s *Store) readManifest(ctx context.Context, name string) (Manifest, error) {
	key := manifestKey(name)
	data, err := s.bucket.ReadAll(ctx, key)
	if err != nil {
		return Manifest{}, s.wrap("read manifest", key, err)
	}
	m, err := ParseManifest(data)
	if err != nil {
		return m, fmt.Errorf("backup target %s: %s: %w: %w", s.target, key, errBadManifest, err)
	}
	if m.Name != name {
		return m, fmt.Errorf("backup target %s: %s: %w: it describes %s", s.target, key, errBadManifest, m.Name)
	}
	return m, nil
}

// Fetch downloads backup name into the file dst (through a temporary file
// beside it, renamed, so dst is whole or absent) and checks it: the
// manifest matches want, and the download, in its one pass, has the
// manifest's size and sha256 and etcd's appended hash. A backup whose
// manifest says Verified is then the file its writer read back and checked
// (bbolt's check, revision and key count) before it wrote the manifest; an
// unverified one, or any with want.Recheck, gets those checks here
// (snapshot.CheckDatabase). It
// returns the manifest and what the file holds. A backup that fails a check matches ErrIntegrity (a
// recovery takes the one before it), one of another cluster
// ErrOtherCluster, a manifest whose object is gone ErrIncomplete.
func (s *Store) Fetch(ctx context.Context, name, dst string, want Expect) (Manifest, snapshot.Info, error) {
	m, err := s.Manifest(ctx, name)
	if err != nil {
		return m, snapshot.Info{}, err
	}
	switch {
	case want.Cluster != "" && m.Cluster != want.Cluster:
		return m, snapshot.Info{}, fmt.Errorf("backup target %s: %s is a backup of cluster %q, not %q: %w; pick one of this cluster's (etcdboot backup list)", s.target, name, m.Cluster, want.Cluster, ErrOtherCluster)
	case want.ClusterID != "" && m.ClusterID != want.ClusterID:
		return m, snapshot.Info{}, fmt.Errorf("backup target %s: %s is a backup of cluster ID %s, not %s: %w; pick one of this cluster's (etcdboot backup list)", s.target, name, m.ClusterID, want.ClusterID, ErrOtherCluster)
	}
	digest := snapshot.NewDigest()
	size, err := s.download(ctx, m.Object, dst, digest)
	if errors.Is(err, ErrNotFound) {
		return m, snapshot.Info{}, fmt.Errorf("backup target %s: %s has a manifest but no snapshot object %s: %w; take another backup (etcdboot backup list shows what is left)", s.target, name, m.Object, ErrIncomplete)
	}
	if err != nil {
		return m, snapshot.Info{}, err
	}
	// etcd's appended hash and the file's sha256, both from the download's
	// one pass: the file is not read again but by bbolt's check.
	sum, hashErr := digest.Verify(dst)
	switch {
	case size != m.Size || hashErr == nil && sum != m.SHA256:
		os.Remove(dst)
		return m, snapshot.Info{}, fmt.Errorf("backup target %s: %s downloads as %d bytes with sha256 %s, its manifest says %d bytes, %s: %w; use an older backup", s.target, m.Object, size, sum, m.Size, m.SHA256, ErrIntegrity)
	case hashErr != nil:
		os.Remove(dst)
		return m, snapshot.Info{}, fmt.Errorf("backup target %s: %s: %w: %w; use an older backup", s.target, m.Object, ErrIntegrity, hashErr)
	}
	if m.Verified && !want.Recheck {
		// The bytes are those the writer read back and checked (bbolt's
		// check, revision and key count) before it wrote this manifest:
		// checking the database again would only read it once more.
		return m, snapshot.Info{Path: dst, SHA256: sum, Hash: m.Hash, Revision: m.Revision, TotalKeys: m.TotalKeys,
			TotalSize: m.Size - hashSize, Version: m.StorageVersion}, nil
	}
	info, err := snapshot.CheckDatabase(dst, sum)
	if err != nil {
		os.Remove(dst)
		return m, info, fmt.Errorf("backup target %s: %s: %w: %w; use an older backup", s.target, m.Object, ErrIntegrity, err)
	}
	if info.Revision != m.Revision || info.TotalKeys != m.TotalKeys {
		os.Remove(dst)
		return m, info, fmt.Errorf("backup target %s: %s holds revision %d and %d keys, its manifest says %d and %d: %w; use an older backup", s.target, m.Object, info.Revision, info.TotalKeys, m.Revision, m.TotalKeys, ErrIntegrity)
	}
	return m, info, nil
}

// download streams key into dst through hash and returns its size. The
// file is renamed into place whole but not fsynced: whoever restores it
// checks its sha256 again, so a copy a crash left damaged is refused then
// and downloaded anew.
func (s *Store) download(ctx context.Context, key, dst string, hash io.Writer) (int64, error) {
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return 0, s.wrap("download", key, err)
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-*")
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", key, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(io.MultiWriter(tmp, hash), r)
	if err != nil {
		return 0, s.wrap("download", key, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("download %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return 0, fmt.Errorf("download %s: %w", key, err)
	}
	ok = true
	return n, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
