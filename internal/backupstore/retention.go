package backupstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Retention is how many backups of a cluster a target keeps, and for how
// long. The newest complete backup is always kept, whatever its age: when
// rounds stop, age alone must not leave the cluster with nothing.
type Retention struct {
	// Keep is how many of the newest backups are kept; 0 for no limit.
	Keep int
	// MaxAge removes backups taken longer ago than this; 0 for no limit.
	MaxAge time.Duration
}

// orphanGrace is how old an object without a manifest must be before
// retention removes it: younger ones may be another writer's upload.
const orphanGrace = time.Hour

// Expired returns the backups of l that r does not keep, oldest first,
// given l.Backups newest first. Pure.
func Expired(backups []Manifest, r Retention, now time.Time) []Manifest {
	var out []Manifest
	for i := len(backups) - 1; i >= 1; i-- {
		m := backups[i]
		if (r.Keep > 0 && i >= r.Keep) || (r.MaxAge > 0 && now.Sub(m.Taken) > r.MaxAge) {
			out = append(out, m)
		}
	}
	return out
}

// Prune applies r to cluster's backups in the target: each expired backup
// loses its manifest first (so no reader takes it for whole any more), then
// its snapshot object and sha256. Objects left without a manifest by an
// interrupted upload go too, once older than the oldest backup kept and
// an hour old. It returns the names removed.
func (s *Store) Prune(ctx context.Context, cluster string, r Retention, now time.Time) ([]string, error) {
	if cluster == "" {
		return nil, fmt.Errorf("backup target %s: prune needs a cluster name", s.target)
	}
	l, err := s.List(ctx, cluster)
	if err != nil {
		return nil, err
	}
	expired := Expired(l.Backups, r, now)
	var removed []string
	var errs []error
	for _, m := range expired {
		if err := s.deleteAll(ctx, manifestKey(m.Name), m.Object, sumKey(m.Name)); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, m.Name)
	}
	oldestKept := now
	if kept := len(l.Backups) - len(expired); kept > 0 {
		oldestKept = l.Backups[kept-1].Taken
	}
	for _, p := range l.Problems {
		if p.orphanData && p.ModTime.Before(oldestKept) && now.Sub(p.ModTime) > orphanGrace {
			if err := s.deleteAll(ctx, p.Key); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return removed, errors.Join(errs...)
}

// deleteAll deletes keys in order, stopping at the first failure; a key
// already gone is not one.
func (s *Store) deleteAll(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := s.bucket.Delete(ctx, k); err != nil {
			if err = s.wrap("delete", k, err); !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	return nil
}
