package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
)

// trialMember is the member a trial restore makes; it never runs.
const trialMember = "trial-restore"

// TrialRestore proves a snapshot can be restored: it restores it with
// etcdutl's restore library (checking sha256 against sum first) into a
// scratch directory made under scratchParent, reads the restored member's
// database the way `etcdutl snapshot status` does, and removes the scratch
// directory again, also on failure. The returned Info's Revision and
// TotalKeys are the restored keyspace's, for the caller to compare with
// what the snapshot held when it was taken.
func TrialRestore(path, sum, scratchParent string) (Info, error) {
	scratch, err := os.MkdirTemp(scratchParent, ".trial-restore-*")
	if err != nil {
		return Info{}, fmt.Errorf("trial restore of %s: %w", path, err)
	}
	// Only the directory this call made.
	defer os.RemoveAll(scratch)
	dataDir := filepath.Join(scratch, "member.etcd")
	if err := Restore(RestoreOptions{
		Snapshot:                 path,
		SHA256:                   sum,
		Name:                     trialMember,
		InitialCluster:           trialMember + "=http://127.0.0.1:2380",
		InitialClusterToken:      "etcdboot-trial-restore",
		InitialAdvertisePeerURLs: []string{"http://127.0.0.1:2380"},
		DataDir:                  dataDir,
	}); err != nil {
		return Info{}, fmt.Errorf("trial restore: %w", err)
	}
	db := filepath.Join(dataDir, "member", "snap", "db")
	st, err := dbStatus(db)
	if err != nil {
		return Info{}, fmt.Errorf("trial restore of %s: read the restored database %s: %w", path, db, err)
	}
	return Info{Path: db, Hash: st.Hash, Revision: st.Revision, TotalKeys: st.TotalKey, TotalSize: st.TotalSize, Version: st.Version}, nil
}
