package backupstore

import (
	"context"
	"fmt"
	"strings"

	"gocloud.dev/blob"
)

// Side objects are small documents agents coordinate through (a recovery
// request, a claim on the snapshot a group forms from), beside the backups
// and never among them.

// checkObjectKey refuses keys inside the backups' directories and keys
// that climb out of the target.
func checkObjectKey(key string) error {
	switch {
	case key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, ".."):
		return fmt.Errorf("object key %q is not a relative key", key)
	case strings.HasPrefix(key, snapshotsDir) || strings.HasPrefix(key, manifestsDir):
		return fmt.Errorf("object key %q is inside the backups' directories; put side objects elsewhere", key)
	}
	return nil
}

// WriteObject writes a small object at key. With ifNotExist the write is
// conditional (S3's If-None-Match: *, GCS's generation 0, Azure's
// If-None-Match, an exclusive create for files): when the object already
// exists it fails with ErrExists and leaves it as it is, so of several
// writers racing exactly one wins. Stores that ignore the condition
// (some S3-compatible ones) let the last writer win: callers that rely on
// it confirm by reading the object back.
func (s *Store) WriteObject(ctx context.Context, key string, data []byte, ifNotExist bool) error {
	if err := checkObjectKey(key); err != nil {
		return err
	}
	err := s.bucket.WriteAll(ctx, key, data, &blob.WriterOptions{IfNotExist: ifNotExist})
	if err != nil {
		return s.wrap("write", key, err)
	}
	return nil
}

// ReadObject reads the object at key; ErrNotFound when there is none.
func (s *Store) ReadObject(ctx context.Context, key string) ([]byte, error) {
	if err := checkObjectKey(key); err != nil {
		return nil, err
	}
	data, err := s.bucket.ReadAll(ctx, key)
	if err != nil {
		return nil, s.wrap("read", key, err)
	}
	return data, nil
}

// DeleteObject deletes the object at key; one already gone is no error.
func (s *Store) DeleteObject(ctx context.Context, key string) error {
	if err := checkObjectKey(key); err != nil {
		return err
	}
	return s.deleteAll(ctx, key)
}
