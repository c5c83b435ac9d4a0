package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockDir holds one lock file per prefix and per subnet. The locks are flock
// locks on open files, so the kernel drops them when a run dies, however it
// dies; the files themselves stay (removing a lock file races with lockers).
const lockDir = "/run/netlab"

// fileLock is a held flock lock.
type fileLock struct{ f *os.File }

// acquireLock takes an exclusive lock on lockDir/name, polling up to wait
// (a negative wait tries once). what describes the lock in errors.
func acquireLock(name, what string, wait time.Duration) (*fileLock, error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, fmt.Errorf("netlab: lock %s: %w", what, err)
	}
	path := filepath.Join(lockDir, name)
	// os.OpenFile sets O_CLOEXEC: lab processes must not inherit the lock,
	// or a leftover child would hold it forever.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netlab: lock %s: %w", what, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("netlab: lock %s (%s): %w", what, path, err)
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(path)
			f.Close()
			return nil, fmt.Errorf("netlab: %s is in use by another lab (%s, held by %s); wait for it to finish or stop it: %w",
				what, path, bytes.TrimSpace(holder), ErrBusy)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Record the holder for the error message of the next one to wait.
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d (%s)\n", os.Getpid(), filepath.Base(os.Args[0]))
	}
	return &fileLock{f: f}, nil
}

// release drops the lock.
func (l *fileLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the only descriptor releases the flock
	l.f = nil
	return err
}
