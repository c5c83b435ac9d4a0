package roundstate

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Follower follows a state file for the watcher, which exports the rounds
// recorded since its last read. The first state it reads is a baseline:
// those rounds ran before this process started and were exported by an
// earlier one.
type Follower[T any] struct {
	// Seen is the state last read; nil before the first read.
	Seen    *T
	modTime time.Time
	size    int64
}

// Next reads the state file in stateDir when it changed since the last
// call, and returns the state seen before (nil at the first read: a
// baseline) and the new one; changed is false when there is nothing new.
// A file missing at the first call makes the zero T the baseline, so that
// every round from then on is new.
func (fl *Follower[T]) Next(f File, stateDir string) (prev, cur *T, changed bool, err error) {
	fi, err := os.Stat(filepath.Join(stateDir, f.Name))
	if errors.Is(err, fs.ErrNotExist) && fl.Seen == nil {
		var zero T
		fl.Seen = &zero
		return nil, nil, false, nil
	}
	if err != nil || (fi.ModTime().Equal(fl.modTime) && fi.Size() == fl.size) {
		return nil, nil, false, nil
	}
	st, err := Read[T](f, stateDir)
	if err != nil {
		return nil, nil, false, err
	}
	fl.modTime, fl.size = fi.ModTime(), fi.Size()
	prev, fl.Seen = fl.Seen, &st
	return prev, &st, true, nil
}
