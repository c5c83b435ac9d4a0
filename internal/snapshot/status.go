package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
)

// Info describes a snapshot file: what `etcdutl snapshot status` prints,
// plus the file's own digest. The JSON names follow etcdutl's.
type Info struct {
	// Path is the snapshot file.
	Path string `json:"path"`
	// Hash is etcd's integrity hash of the database (crc32c over every
	// bucket, key and value); etcdutl prints it in hex.
	Hash uint32 `json:"hash"`
	// Revision is the store's latest revision.
	Revision int64 `json:"revision"`
	// TotalKeys counts the live keys at Revision.
	TotalKeys int `json:"totalKey"`
	// TotalSize is the database's size in bytes.
	TotalSize int64 `json:"totalSize"`
	// Version is the storage version etcd wrote ("3.6.0"); empty before 3.6.
	Version string `json:"version"`
	// SHA256 is the hex digest of the whole file, what sha256sum prints and
	// what a restore payload names.
	SHA256 string `json:"sha256"`
}

// ErrTruncated means a snapshot file ends before the database it holds does.
var ErrTruncated = errors.New("snapshot is truncated")

// ErrCorrupt means a snapshot file's content does not match its integrity
// hash, or its database fails bbolt's consistency check.
var ErrCorrupt = errors.New("snapshot is corrupt")

// IntegrityError says which snapshot failed which check. It matches
// ErrTruncated or ErrCorrupt with errors.Is.
type IntegrityError struct {
	// Path is the snapshot file.
	Path string
	// Kind is ErrTruncated or ErrCorrupt.
	Kind error
	// Problem is what was found, for the message.
	Problem string
}

// Error says what is wrong with which file and what to do.
func (e *IntegrityError) Error() string {
	word := "corrupt"
	if e.Kind == ErrTruncated {
		word = "truncated"
	}
	return fmt.Sprintf("snapshot %s is %s: %s; take a new one (etcdboot snapshot save)", e.Path, word, e.Problem)
}

// Unwrap returns Kind.
func (e *IntegrityError) Unwrap() error { return e.Kind }

// Status checks a snapshot file and reports what it holds. It refuses, with
// an *IntegrityError, a file that is truncated, whose content does not match
// the sha256 etcd appends to every snapshot it streams, or whose database
// fails bbolt's consistency check. A bare db file copied out of a data dir
// lacks that hash and is refused as truncated: a restore could not verify it.
func Status(path string) (Info, error) {
	info := Info{Path: path}
	sum, err := verifyFile(path)
	if err != nil {
		return info, err
	}
	return CheckDatabase(path, sum)
}

// CheckDatabase is the rest of Status for a file whose digests were
// checked as it was written (by a Digest on the stream, whose sum it is):
// bbolt's consistency check, in a child process, and what the database
// holds. A database that fails the check is an *IntegrityError.
func CheckDatabase(path, sum string) (Info, error) {
	info := Info{Path: path, SHA256: sum}
	st, err := dbStatus(path)
	if err != nil {
		return info, &IntegrityError{Path: path, Kind: ErrCorrupt, Problem: oneLine(err.Error())}
	}
	info.Hash, info.Revision, info.TotalKeys, info.TotalSize, info.Version = st.Hash, st.Revision, st.TotalKey, st.TotalSize, st.Version
	return info, nil
}

// oneLine joins bbolt's multi-line check report into one line.
func oneLine(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}

// hashSize is the length of the sha256 etcd appends to a snapshot stream.
const hashSize = sha256.Size

// verifyFile checks that path is a whole bbolt database followed by the
// sha256 of that database, in one read of the file, and returns the
// sha256 of the whole file.
func verifyFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat snapshot: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("snapshot %s is not a regular file", path)
	}
	size := st.Size()
	dbSize, err := databaseSize(f, size)
	if err != nil {
		return "", &IntegrityError{Path: path, Kind: ErrCorrupt, Problem: err.Error()}
	}
	switch want := dbSize + hashSize; {
	case size == dbSize:
		return "", &IntegrityError{Path: path, Kind: ErrTruncated,
			Problem: "it ends where its database does, without the sha256 etcd appends to every snapshot " +
				"(cut short, or a db file copied out of a data dir, which a restore cannot verify)"}
	case size < want:
		return "", &IntegrityError{Path: path, Kind: ErrTruncated,
			Problem: fmt.Sprintf("it has %d bytes, but its database needs %d plus a %d-byte hash", size, dbSize, hashSize)}
	case size > want:
		return "", &IntegrityError{Path: path, Kind: ErrCorrupt,
			Problem: fmt.Sprintf("it has %d bytes, %d more than its database and hash", size, size-want)}
	}
	h := sha256.New()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("read snapshot %s: %w", path, err)
	}
	if _, err := io.CopyN(h, f, dbSize); err != nil {
		return "", fmt.Errorf("read snapshot %s: %w", path, err)
	}
	want := h.Sum(nil)
	got := make([]byte, hashSize)
	if _, err := io.ReadFull(f, got); err != nil {
		return "", fmt.Errorf("read snapshot %s: %w", path, err)
	}
	if !bytes.Equal(got, want) {
		return "", &IntegrityError{Path: path, Kind: ErrCorrupt,
			Problem: fmt.Sprintf("the sha256 of its database is %x, but etcd appended %x when it took the snapshot", want, got)}
	}
	h.Write(got)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// bbolt's meta page, as bbolt lays it out (native byte order): a 16-byte
// page header, then magic, version, page size, flags, the root bucket
// (16 bytes), the freelist page, the high-water mark, the txid and an
// FNV-64a checksum of everything before it.
const (
	boltMagic         = 0xED0CDAED
	boltVersion       = 2
	metaOffset        = 16
	metaPageSizeAt    = metaOffset + 8
	metaHighWaterAt   = metaOffset + 40
	metaChecksumAt    = metaOffset + 56
	metaLen           = metaChecksumAt + 8
	minBoltPageSize   = 512
	maxBoltPageSize   = 1 << 20
	snapshotMetaPages = 2
)

// databaseSize reads the database's meta pages and returns its size: the
// high-water mark times the page size, exactly the bytes bbolt's
// Tx.WriteTo streams. Meta 0 carries the newer txid in a streamed snapshot;
// meta 1 is the fallback when 0 is damaged.
func databaseSize(f *os.File, size int64) (int64, error) {
	head := make([]byte, metaLen)
	if _, err := f.ReadAt(head, 0); err != nil {
		return 0, fmt.Errorf("it has %d bytes, too few for a bbolt database header", size)
	}
	pageSize := int64(binary.NativeEndian.Uint32(head[metaPageSizeAt:]))
	if n, err := metaHighWater(head); err == nil {
		return n * pageSize, nil
	}
	if pageSize < minBoltPageSize || pageSize > maxBoltPageSize {
		return 0, errors.New("it does not start with a bbolt database header (is it an etcd snapshot?)")
	}
	if _, err := f.ReadAt(head, pageSize); err != nil {
		return 0, errors.New("its first bbolt meta page is damaged and the second is missing")
	}
	n, err := metaHighWater(head)
	if err != nil {
		return 0, fmt.Errorf("both bbolt meta pages are damaged (%v)", err)
	}
	return n * int64(binary.NativeEndian.Uint32(head[metaPageSizeAt:])), nil
}

// metaHighWater validates one meta page and returns its high-water mark.
func metaHighWater(page []byte) (int64, error) {
	m := page[metaOffset:]
	if binary.NativeEndian.Uint32(m) != boltMagic {
		return 0, errors.New("no bbolt magic number")
	}
	if v := binary.NativeEndian.Uint32(m[4:]); v != boltVersion {
		return 0, fmt.Errorf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(page[metaOffset:metaChecksumAt])
	if h.Sum64() != binary.NativeEndian.Uint64(page[metaChecksumAt:]) {
		return 0, errors.New("meta page checksum mismatch")
	}
	pageSize := int64(binary.NativeEndian.Uint32(page[metaPageSizeAt:]))
	if pageSize < minBoltPageSize || pageSize > maxBoltPageSize {
		return 0, fmt.Errorf("page size %d", pageSize)
	}
	hw := int64(binary.NativeEndian.Uint64(page[metaHighWaterAt:]))
	if hw < snapshotMetaPages || hw > 1<<40/pageSize {
		return 0, fmt.Errorf("high-water mark %d", hw)
	}
	return hw, nil
}
