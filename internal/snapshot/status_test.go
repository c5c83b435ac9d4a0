package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// boltSnapshot builds what etcd streams for a snapshot, without etcd: a
// bbolt database written by Tx.WriteTo followed by its sha256.
func boltSnapshot(t *testing.T, keys int) []byte {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var buf bytes.Buffer
	err = db.Update(func(tx *bolt.Tx) error {
		// etcdutl's status reads the storage version from "meta".
		if _, err := tx.CreateBucket([]byte("meta")); err != nil {
			return err
		}
		b, err := tx.CreateBucket([]byte("test"))
		if err != nil {
			return err
		}
		for i := range keys {
			if err := b.Put(fmt.Appendf(nil, "k%06d", i), bytes.Repeat([]byte{'v'}, 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(&buf); return err }); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return append(buf.Bytes(), sum[:]...)
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "snapshot.db")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStatusReadsAWholeSnapshot(t *testing.T) {
	data := boltSnapshot(t, 2000)
	info, err := Status(writeTemp(t, data))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256 = %s, want the file's digest %x", info.SHA256, sum)
	}
	if info.TotalSize != int64(len(data)-hashSize) || info.Hash == 0 {
		t.Errorf("TotalSize %d (file %d bytes), Hash %x", info.TotalSize, len(data), info.Hash)
	}
}

// TestStatusRejectsDamagedSnapshots damages a good snapshot every way a
// copy goes wrong and wants each refused with the right kind and a message
// that says so.
func TestStatusRejectsDamagedSnapshots(t *testing.T) {
	good := boltSnapshot(t, 2000)
	pageSize := 4096
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x10
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		kind error
		want string
	}{
		{"cut in half", good[:len(good)/2], ErrTruncated, "is truncated: it has"},
		{"cut by one page", append(bytes.Clone(good[:len(good)-hashSize-pageSize]), good[len(good)-hashSize:]...), ErrTruncated, "is truncated"},
		{"hash cut off", good[:len(good)-hashSize], ErrTruncated, "without the sha256 etcd appends"},
		{"hash cut short", good[:len(good)-10], ErrTruncated, "is truncated"},
		{"one page only", good[:pageSize], ErrTruncated, "is truncated"},
		{"bit flipped in the middle", flip(len(good) / 2), ErrCorrupt, "is corrupt: the sha256 of its database is"},
		{"bit flipped in the appended hash", flip(len(good) - 1), ErrCorrupt, "is corrupt"},
		{"bit flipped in meta page 0", flip(30), ErrCorrupt, "is corrupt"},
		{"bytes appended", append(bytes.Clone(good), 0), ErrCorrupt, "is corrupt: it has"},
		{"empty", nil, ErrCorrupt, "too few for a bbolt database header"},
		{"not bbolt", bytes.Repeat([]byte("etcd"), 2048), ErrCorrupt, "does not start with a bbolt database header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeTemp(t, tc.data)
			_, err := Status(p)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Status = %v, want %v", err, tc.kind)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, "snapshot "+p) || !strings.HasSuffix(msg, "take a new one (etcdboot snapshot save)") {
				t.Errorf("message %q: want it to name %s, say %q and what to do", msg, p, tc.want)
			}
		})
	}
}

func TestWriteTableLooksLikeEtcdutl(t *testing.T) {
	var b bytes.Buffer
	info := Info{Hash: 0xfe01cf57, Revision: 10, TotalKeys: 7, TotalSize: 2_101_248, Version: "3.6.0", SHA256: strings.Repeat("ab", 32)}
	if err := WriteTable(&b, info); err != nil {
		t.Fatal(err)
	}
	want := `+----------+----------+------------+------------+---------+------------------------------------------------------------------+
|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE | VERSION |                              SHA256                              |
+----------+----------+------------+------------+---------+------------------------------------------------------------------+
| fe01cf57 |       10 |          7 |     2.1 MB |   3.6.0 | abababababababababababababababababababababababababababababababab |
+----------+----------+------------+------------+---------+------------------------------------------------------------------+
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteJSON(&b, info); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"hash": 4261531479`, `"revision": 10`, `"totalKey": 7`, `"totalSize": 2101248`, `"version": "3.6.0"`, `"sha256": "abab`} {
		if !strings.Contains(b.String(), field) {
			t.Errorf("JSON lacks %s:\n%s", field, b.String())
		}
	}
}
