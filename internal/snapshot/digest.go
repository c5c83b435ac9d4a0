package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
)

// Digest hashes a snapshot stream as it passes, in one pass: the database
// (every byte but the last hashSize, which are held back) and then, from
// the same state, the whole file. Save uses it on etcd's stream, a backup
// store on its download, so neither reads the file again to check it.
type Digest struct {
	h    hash.Hash
	tail [hashSize]byte
	n    int // bytes held in tail
}

// NewDigest returns a Digest that has seen nothing.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

// Write hashes p, holding back the last hashSize bytes seen so far. It
// never fails.
func (d *Digest) Write(p []byte) (int, error) {
	if len(p) >= hashSize {
		d.h.Write(d.tail[:d.n])
		d.h.Write(p[:len(p)-hashSize])
		d.n = copy(d.tail[:], p[len(p)-hashSize:])
		return len(p), nil
	}
	if over := d.n + len(p) - hashSize; over > 0 {
		d.h.Write(d.tail[:over])
		d.n = copy(d.tail[:], d.tail[over:d.n])
	}
	d.n += copy(d.tail[d.n:], p)
	return len(p), nil
}

// Verify checks that the held-back bytes are the sha256 of the bytes before
// them, as etcd appends it to every snapshot it streams, and returns the
// hex sha256 of the whole stream; path names the file in its
// *IntegrityError. Call it once, after the last Write.
func (d *Digest) Verify(path string) (string, error) {
	if d.n < hashSize {
		return "", &IntegrityError{Path: path, Kind: ErrTruncated, Problem: "the stream ended before the sha256 etcd appends to every snapshot"}
	}
	if want := d.h.Sum(nil); !bytes.Equal(d.tail[:], want) {
		return "", &IntegrityError{Path: path, Kind: ErrCorrupt,
			Problem: fmt.Sprintf("the sha256 of its database is %x, but etcd appended %x when it took the snapshot", want, d.tail[:])}
	}
	d.h.Write(d.tail[:])
	return hex.EncodeToString(d.h.Sum(nil)), nil
}
