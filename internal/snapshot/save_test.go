package snapshot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestStreamDigestInAnyChunking checks the one-pass digest against hashing
// the whole stream, whatever sizes the stream's messages have.
func TestStreamDigestInAnyChunking(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	db := make([]byte, 100_000)
	for i := range db {
		db[i] = byte(rng.Uint32())
	}
	dbSum := sha256.Sum256(db)
	stream := append(db, dbSum[:]...)
	whole := sha256.Sum256(stream)
	for _, maxChunk := range []int{1, 7, 31, 32, 33, 1000, 32 * 1024, len(stream)} {
		d := NewDigest()
		for rest := stream; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(maxChunk))
			d.Write(rest[:n])
			rest = rest[n:]
		}
		got, err := d.Verify("snap.db")
		if err != nil {
			t.Fatalf("chunks up to %d: %v", maxChunk, err)
		}
		if got != hex.EncodeToString(whole[:]) {
			t.Errorf("chunks up to %d: sha256 %s, want %x", maxChunk, got, whole)
		}
	}
}

// TestStreamDigestRefusesDamagedStreams checks a flipped byte (corrupt) and
// a stream too short to carry the hash (truncated).
func TestStreamDigestRefusesDamagedStreams(t *testing.T) {
	db := []byte("not really a database, but hashed like one")
	sum := sha256.Sum256(db)
	stream := append(db, sum[:]...)
	stream[3] ^= 1
	d := NewDigest()
	d.Write(stream)
	if _, err := d.Verify("snap.db"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped byte: %v, want ErrCorrupt", err)
	}
	d = NewDigest()
	d.Write(stream[:hashSize-1])
	if _, err := d.Verify("snap.db"); !errors.Is(err, ErrTruncated) {
		t.Errorf("short stream: %v, want ErrTruncated", err)
	}
}
