package backupstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"gocloud.dev/blob"
)

// uploadConcurrency is how many parts of a large snapshot go up at once
// (S3 multipart, GCS and Azure blocks); each part is BufferSize bytes.
const (
	uploadConcurrency = 4
	uploadPartSize    = 16 << 20
)

// Put uploads the snapshot file at path as a backup described by m, in
// the order that keeps readers safe: the snapshot object, its sha256, then
// the manifest. m names the cluster, when the snapshot was taken and what
// it holds; Put fills Format, Name (when empty), Object and Size, and
// computes the file's sha256 as it streams: a file whose digest is not
// m.SHA256 (when given) is not uploaded, and no manifest is written. It
// returns the manifest written.
func (s *Store) Put(ctx context.Context, path string, m Manifest) (Manifest, error) {
	if m.Cluster == "" || m.Taken.IsZero() {
		return m, fmt.Errorf("backup of %s: the manifest needs the cluster's name and when the snapshot was taken", path)
	}
	if m.Name == "" {
		m.Name = Name(m.Cluster, m.Taken)
	}
	if err := checkName(m.Name); err != nil {
		return m, err
	}
	m.Format, m.Object = ManifestFormat, snapshotKey(m.Name)
	m.Taken = m.Taken.UTC()
	f, err := os.Open(path)
	if err != nil {
		return m, fmt.Errorf("backup upload: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return m, fmt.Errorf("backup upload: %w", err)
	}
	m.Size = fi.Size()
	sum, err := s.upload(ctx, m.Object, f, m.SHA256)
	if err != nil {
		return m, err
	}
	m.SHA256 = sum
	if err := s.bucket.WriteAll(ctx, sumKey(m.Name), []byte(sum+"  "+m.Name+snapshotSuffix+"\n"), &blob.WriterOptions{ContentType: "text/plain"}); err != nil {
		return m, s.wrap("write sha256", sumKey(m.Name), err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := s.bucket.WriteAll(ctx, manifestKey(m.Name), append(data, '\n'), &blob.WriterOptions{ContentType: "application/json"}); err != nil {
		return m, s.wrap("write manifest", manifestKey(m.Name), err)
	}
	return m, nil
}

// upload streams r to key and returns its sha256. When want is set and the
// digest differs, the write is aborted (its context cancelled before
// Close), so no object of that name appears.
func (s *Store) upload(ctx context.Context, key string, r io.Reader, want string) (string, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{
		ContentType:    "application/octet-stream",
		BufferSize:     uploadPartSize,
		MaxConcurrency: uploadConcurrency,
	})
	if err != nil {
		return "", s.wrap("upload", key, err)
	}
	h := sha256.New()
	if _, err := io.Copy(w, io.TeeReader(r, h)); err != nil {
		cancel()
		_ = w.Close()
		return "", s.wrap("upload", key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want != "" && sum != want {
		cancel()
		_ = w.Close()
		return "", fmt.Errorf("backup target %s: upload %s: the file's sha256 is %s, not the verified snapshot's %s: %w; it changed after it was verified, check the disk", s.target, key, sum, want, ErrIntegrity)
	}
	if err := w.Close(); err != nil {
		return "", s.wrap("upload", key, err)
	}
	return sum, nil
}
