package bootstrap

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DataDirReport is what InspectDataDir found.
type DataDirReport struct {
	State  DataDirState
	Detail string
	// Members are the members the data dir's db lists.
	Members []StoredMember
}

// StoredMember is one entry of the "members" bucket of etcd's db.
type StoredMember struct {
	ID        uint64   `json:"id"`
	Name      string   `json:"name"`
	PeerURLs  []string `json:"peerURLs"`
	IsLearner bool     `json:"isLearner"`
}

// dbPath is where etcd keeps its bbolt backend inside a data dir.
func dbPath(dataDir string) string { return filepath.Join(dataDir, "member", "snap", "db") }

// MemberID computes the ID etcd gives a member that bootstraps with the given
// peer URLs and cluster token (membership.computeMemberID without a time).
// Members added at runtime get a time-salted ID instead; the journal keeps those.
func MemberID(peerURLs []string, token string) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	sum := sha1.Sum([]byte(strings.Join(urls, "") + token))
	return binary.BigEndian.Uint64(sum[:8])
}

// InspectDataDir reads the member list of the data dir's db and tells whether
// it belongs to this member: the db must list a member with this name and
// peer URLs whose ID is knownID (from the journal) or, when knownID is zero,
// the ID a bootstrap with this token gives.
func InspectDataDir(dataDir, name string, peerURLs []string, token string, knownID uint64) (DataDirReport, error) {
	db := dbPath(dataDir)
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		if _, werr := os.Stat(filepath.Join(dataDir, "member", "wal")); werr == nil {
			return DataDirReport{State: DataDirForeign, Detail: fmt.Sprintf("%s has a WAL but no db", dataDir)}, nil
		}
		return DataDirReport{State: DataDirEmpty}, nil
	} else if err != nil {
		return DataDirReport{}, fmt.Errorf("inspect data dir: %w", err)
	}
	members, err := readMembers(db)
	if err != nil {
		return DataDirReport{}, err
	}
	rep := DataDirReport{Members: members}
	wantID := knownID
	if wantID == 0 {
		wantID = MemberID(peerURLs, token)
	}
	for _, m := range members {
		if m.Name != name && !sameURLs(m.PeerURLs, peerURLs) {
			continue
		}
		if m.ID == wantID && sameURLs(m.PeerURLs, peerURLs) {
			rep.State = DataDirOurs
			return rep, nil
		}
		rep.State = DataDirForeign
		rep.Detail = fmt.Sprintf("%s lists member %q (%x) with peer URLs %v, not this member (%x, %v, cluster token %q)",
			db, m.Name, m.ID, m.PeerURLs, wantID, peerURLs, token)
		return rep, nil
	}
	rep.State = DataDirForeign
	rep.Detail = fmt.Sprintf("%s does not list member %q among its %d members", db, name, len(members))
	return rep, nil
}

func sameURLs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func readMembers(db string) ([]StoredMember, error) {
	bdb, err := bolt.Open(db, 0o400, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: locked; is etcd still running on this data dir? stop it first", db)
		}
		return nil, fmt.Errorf("open %s: %w; the db is not an etcd backend: move the data dir aside", db, err)
	}
	defer bdb.Close()
	var members []StoredMember
	err = bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("members"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var m StoredMember
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("member %s: %w", k, err)
			}
			members = append(members, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read members of %s: %w", db, err)
	}
	return members, nil
}

// MoveAside renames dataDir to dataDir.etcdboot-<reason>-<UTC time> and
// returns the new path. It never deletes anything.
func MoveAside(dataDir, reason string, now time.Time) (string, error) {
	if _, err := os.Stat(dataDir); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	dst := fmt.Sprintf("%s.etcdboot-%s-%s", strings.TrimRight(dataDir, "/"), reason, now.UTC().Format("20060102T150405Z"))
	for i := 1; ; i++ {
		if _, err := os.Stat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s.%d", dst, i)
	}
	if err := os.Rename(dataDir, dst); err != nil {
		return "", fmt.Errorf("move data dir aside: %w", err)
	}
	return dst, nil
}
