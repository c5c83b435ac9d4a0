package backupstore

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"
)

// ManifestFormat is the manifest layout this package writes and reads.
const ManifestFormat = 1

// Where a backup's objects live under the target: the snapshot and its
// sha256 (sha256sum's format) in snapshots/, the manifest in manifests/.
// Other top-level names are free for side objects.
const (
	snapshotsDir   = "snapshots/"
	manifestsDir   = "manifests/"
	snapshotSuffix = ".db"
	sumSuffix      = ".db.sha256"
	manifestSuffix = ".json"
)

// SourceSurvivor marks a backup `etcdboot recover --from-member` took from
// Member, a surviving member of a cluster without quorum: it holds what that
// member had applied, which may lack the last writes the lost majority
// committed.
const SourceSurvivor = "survivor"

// timeLayout stamps backup names in UTC with milliseconds, so that names
// sort as times do.
const timeLayout = "20060102T150405.000Z"

// Name is the name of the backup of cluster taken at t:
// "<cluster>-20240131T235959.123Z", the same stamp as the files the agent
// keeps on the member's disk.
func Name(cluster string, t time.Time) string {
	return cluster + "-" + t.UTC().Format(timeLayout)
}

// ClusterOf returns the cluster a backup name made by Name belongs to; ok
// is false for any other name.
func ClusterOf(name string) (cluster string, ok bool) {
	i := len(name) - len(timeLayout) - 1
	if i < 1 || name[i] != '-' {
		return "", false
	}
	if _, err := time.Parse(timeLayout, name[i+1:]); err != nil {
		return "", false
	}
	return name[:i], true
}

// Manifest describes one backup. It is written after the snapshot object
// and its sha256, so a manifest in the store means the data is complete.
type Manifest struct {
	Format int `json:"format"`
	// Name identifies the backup in its target (Name(Cluster, Taken)).
	Name string `json:"name"`
	// Cluster is the cluster's name, ClusterID etcd's ID of it in hex.
	Cluster   string `json:"cluster"`
	ClusterID string `json:"clusterID,omitempty"`
	// Member is the member the snapshot was streamed from.
	Member string `json:"member,omitempty"`
	// Source is what took the snapshot: empty for the scheduled round,
	// SourceSurvivor for `etcdboot recover --from-member`.
	Source string `json:"source,omitempty"`
	// Taken is when the snapshot was taken.
	Taken time.Time `json:"taken"`
	// Revision and TotalKeys are the keyspace's, as etcdutl reads them.
	Revision  int64 `json:"revision"`
	TotalKeys int   `json:"totalKeys"`
	// EtcdVersion is the member's server version, StorageVersion the
	// storage version the snapshot holds (empty before etcd 3.6).
	EtcdVersion    string `json:"etcdVersion,omitempty"`
	StorageVersion string `json:"storageVersion,omitempty"`
	// Hash is etcd's integrity hash of the database.
	Hash uint32 `json:"hash"`
	// Size is the snapshot object's size in bytes, SHA256 its hex digest.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Verified is true when the writer read the snapshot back and checked
	// etcd's hash, revision and key count before uploading it.
	Verified bool `json:"verified"`
	// TestRestored is true when the writer also restored it into a scratch
	// member and found the same revision and key count.
	TestRestored bool `json:"testRestored,omitempty"`
	// Object is the snapshot object's key under the target.
	Object string `json:"object"`
}

// snapshotKey, sumKey and manifestKey are the keys of backup name's objects.
func snapshotKey(name string) string { return snapshotsDir + name + snapshotSuffix }
func sumKey(name string) string      { return snapshotsDir + name + sumSuffix }
func manifestKey(name string) string { return manifestsDir + name + manifestSuffix }

// checkName refuses names that would leave their directory.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
		return fmt.Errorf("backup name %q is not a name (like demo-20240131T235959.123Z)", name)
	}
	return nil
}

// ParseManifest decodes a manifest and checks it names a complete backup.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	switch {
	case m.Format != ManifestFormat:
		return m, fmt.Errorf("manifest format %d; this etcdboot reads %d, upgrade it", m.Format, ManifestFormat)
	case checkName(m.Name) != nil:
		return m, fmt.Errorf("manifest: %w", checkName(m.Name))
	case m.Object != snapshotKey(m.Name):
		return m, fmt.Errorf("manifest of %s names object %q, not %q", m.Name, m.Object, snapshotKey(m.Name))
	case len(m.SHA256) != 64:
		return m, fmt.Errorf("manifest of %s has no sha256", m.Name)
	}
	return m, nil
}

// NameFromKey returns the backup name of a key or object URL path that ends
// in snapshots/NAME.db or manifests/NAME.json, and the target prefix before
// it; ok is false for any other key.
func NameFromKey(key string) (prefix, name string, ok bool) {
	dir, file := path.Split(key)
	switch {
	case strings.HasSuffix(dir, snapshotsDir) && strings.HasSuffix(file, snapshotSuffix):
		name = strings.TrimSuffix(file, snapshotSuffix)
		prefix = strings.TrimSuffix(dir, snapshotsDir)
	case strings.HasSuffix(dir, manifestsDir) && strings.HasSuffix(file, manifestSuffix):
		name = strings.TrimSuffix(file, manifestSuffix)
		prefix = strings.TrimSuffix(dir, manifestsDir)
	default:
		return "", "", false
	}
	return prefix, name, checkName(name) == nil
}
