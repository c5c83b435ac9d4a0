package roundstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/etcdboot/etcdboot/internal/atomicfile"
)

// File is one round's state file: Name in a state dir, What names the
// rounds in messages ("backup", "maintenance").
type File struct {
	Name string
	What string
}

// Read reads the state file in stateDir into a T; a missing file is T's
// zero value, not an error.
func Read[T any](f File, stateDir string) (T, error) {
	var st T
	path := filepath.Join(stateDir, f.Name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read %s state: %w", f.What, err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		var zero T
		return zero, fmt.Errorf("%s state %s: %w; remove it, the next round writes a new one", f.What, path, err)
	}
	return st, nil
}

// Update replaces the state file in stateDir by record applied to what it
// holds, atomically. A damaged file must not stop the rounds: record then
// starts from T's zero value.
func Update[T any](f File, stateDir string, record func(T) T) error {
	st, err := Read[T](f, stateDir)
	if err != nil {
		var zero T
		st = zero
	}
	data, err := json.MarshalIndent(record(st), "", "  ")
	if err != nil {
		return fmt.Errorf("%s state: %w", f.What, err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("%s state: %w", f.What, err)
	}
	return atomicfile.Write(filepath.Join(stateDir, f.Name), append(data, '\n'), 0o644)
}

// Lock takes the exclusive lock lockName in stateDir without waiting, so a
// timer's round and a manual one never run at once; busy is wrapped when
// another round holds it. The returned func releases it.
func Lock(stateDir, lockName string, busy error) (func(), error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(stateDir, lockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("round lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s); wait for it to finish", busy, path)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
