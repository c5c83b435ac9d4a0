package backupstore

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"gocloud.dev/blob"
)

// Problem is something in the store that is not a complete backup.
type Problem struct {
	// Name is the backup the objects belong to.
	Name string `json:"name"`
	// Key is the object concerned.
	Key string `json:"key"`
	// What says what is wrong.
	What string `json:"what"`
	// ModTime is the object's modification time.
	ModTime time.Time `json:"modTime"`
	// orphanData is a snapshot object without a manifest: an upload in
	// flight, or one interrupted, which retention removes once old.
	orphanData bool
}

// Listing is what a target holds for a cluster.
type Listing struct {
	// Backups are the complete backups, newest first: their manifest and
	// snapshot object both exist and the object has the manifest's size.
	Backups []Manifest `json:"backups"`
	// Problems are manifests without their object (or with one of another
	// size), manifests that do not parse, and objects without a manifest.
	Problems []Problem `json:"problems,omitempty"`
}

// Verified returns the backups whose writer verified them, newest first:
// the ones a recovery may start from.
func (l Listing) Verified() []Manifest {
	var out []Manifest
	for _, m := range l.Backups {
		if m.Verified {
			out = append(out, m)
		}
	}
	return out
}

// List returns the backups of cluster in the target, newest first, with
// what is not a complete backup; an empty cluster lists every cluster's.
func (s *Store) List(ctx context.Context, cluster string) (Listing, error) {
	var l Listing
	namePrefix := ""
	if cluster != "" {
		namePrefix = cluster + "-"
	}
	objects := map[string]*blob.ListObject{}
	if err := s.each(ctx, snapshotsDir+namePrefix, func(o *blob.ListObject) {
		objects[o.Key] = o
	}); err != nil {
		return l, err
	}
	var manifests []*blob.ListObject
	if err := s.each(ctx, manifestsDir+namePrefix, func(o *blob.ListObject) {
		if strings.HasSuffix(o.Key, manifestSuffix) {
			manifests = append(manifests, o)
		}
	}); err != nil {
		return l, err
	}
	described := map[string]bool{}
	for _, mo := range manifests {
		name := strings.TrimSuffix(strings.TrimPrefix(mo.Key, manifestsDir), manifestSuffix)
		if c, _ := ClusterOf(name); cluster != "" && c != cluster {
			continue // another cluster whose name starts with cluster-
		}
		m, err := s.readManifest(ctx, name)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // pruned between the listing and the read
		case err != nil && !errors.Is(err, errBadManifest):
			return l, err
		case err != nil:
			l.Problems = append(l.Problems, Problem{Name: name, Key: mo.Key, What: err.Error(), ModTime: mo.ModTime})
			continue
		case cluster != "" && m.Cluster != cluster:
			continue // another cluster whose name starts with cluster-
		}
		described[m.Object], described[sumKey(m.Name)] = true, true
		o := objects[m.Object]
		switch {
		case o == nil:
			l.Problems = append(l.Problems, Problem{Name: name, Key: mo.Key, ModTime: mo.ModTime,
				What: "manifest without its snapshot object " + m.Object + ": pruned or lost; this backup cannot be restored"})
		case o.Size != m.Size:
			l.Problems = append(l.Problems, Problem{Name: name, Key: m.Object, ModTime: o.ModTime,
				What: "snapshot object has " + itoa(o.Size) + " bytes, its manifest says " + itoa(m.Size) + "; this backup cannot be restored"})
		default:
			l.Backups = append(l.Backups, m)
		}
	}
	for key, o := range objects {
		if described[key] {
			continue
		}
		name := strings.TrimPrefix(key, snapshotsDir)
		name = strings.TrimSuffix(strings.TrimSuffix(name, sumSuffix), snapshotSuffix)
		if c, ok := ClusterOf(name); described[snapshotKey(name)] || (cluster != "" && c != cluster) || !ok && cluster != "" {
			continue
		}
		l.Problems = append(l.Problems, Problem{Name: name, Key: key, ModTime: o.ModTime, orphanData: true,
			What: "object without a manifest: an upload in progress or interrupted"})
	}
	slices.SortFunc(l.Backups, func(a, b Manifest) int {
		if c := b.Taken.Compare(a.Taken); c != 0 {
			return c
		}
		return strings.Compare(b.Name, a.Name)
	})
	slices.SortFunc(l.Problems, func(a, b Problem) int { return strings.Compare(a.Key, b.Key) })
	return l, nil
}

// each calls fn for every object under prefix (not directories).
func (s *Store) each(ctx context.Context, prefix string, fn func(*blob.ListObject)) error {
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return s.wrap("list", prefix, err)
		}
		if !o.IsDir {
			fn(o)
		}
	}
}
