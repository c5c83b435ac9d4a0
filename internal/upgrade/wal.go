package upgrade

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/pkg/v3/pbutil"
	"go.etcd.io/etcd/server/v3/etcdserver/api/snap"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// V2Entries counts the entries a member replays on its next start (its WAL
// from its newest raft snapshot on) that are in etcd's v2 request format.
// etcd 3.5 still writes some (the cluster version, member attributes);
// etcd 3.6 converts them on replay, etcd 3.7 cannot read them and panics.
// They leave the replay at the member's next raft snapshot, taken every
// etcd.snapshotCount applied entries. The WAL is opened read-only: etcd may
// be running, and a record it is writing is a torn tail, not an error.
func V2Entries(dataDir string) (n int, err error) {
	walDir := filepath.Join(dataDir, "member", "wal")
	if _, err := os.Stat(walDir); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	defer func() {
		// etcd's WAL reader panics on a record it cannot decode.
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("read the WAL in %s: %v; the member's WAL is damaged", walDir, r)
		}
	}()
	// A running etcd may release WAL files between listing and reading.
	for attempt := 1; ; attempt++ {
		n, err = v2EntriesOnce(dataDir, walDir)
		if err == nil || attempt == 3 {
			return n, err
		}
	}
}

func v2EntriesOnce(dataDir, walDir string) (int, error) {
	lg := zap.NewNop()
	walSnaps, err := wal.ValidSnapshotEntries(lg, walDir)
	if err != nil {
		return 0, fmt.Errorf("read the WAL's snapshot entries in %s: %w", walDir, err)
	}
	start := walpb.Snapshot{}
	s, err := snap.New(lg, filepath.Join(dataDir, "member", "snap")).LoadNewestAvailable(walSnaps)
	switch {
	case err == nil:
		start.Index, start.Term = s.Metadata.Index, s.Metadata.Term
	case !errors.Is(err, snap.ErrNoSnapshot):
		return 0, fmt.Errorf("load the newest snapshot of %s: %w", dataDir, err)
	}
	w, err := wal.OpenForRead(lg, walDir, start)
	if err != nil {
		return 0, fmt.Errorf("open the WAL in %s: %w", walDir, err)
	}
	defer w.Close()
	_, _, ents, err := w.ReadAll()
	if err != nil {
		return 0, fmt.Errorf("read the WAL in %s from index %d: %w", walDir, start.Index, err)
	}
	n := 0
	for _, e := range ents {
		if isV2Entry(e) {
			n++
		}
	}
	return n, nil
}

// isV2Entry reports whether e is a v2 request, as etcd's apply tells them:
// data that is no InternalRaftRequest, or one that carries a v2 request.
func isV2Entry(e raftpb.Entry) bool {
	if e.Type != raftpb.EntryNormal || len(e.Data) == 0 {
		return false
	}
	var r etcdserverpb.InternalRaftRequest
	if !pbutil.MaybeUnmarshal(&r, e.Data) {
		return true
	}
	return r.V2 != nil
}
