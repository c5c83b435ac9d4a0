package backup

import (
	"time"

	"github.com/etcdboot/etcdboot/internal/roundstate"
)

// StateFile is the file, in the agent's state dir, that records rounds.
const StateFile = "backup.json"

// Results of a round.
const (
	ResultOK      = roundstate.ResultOK
	ResultFailed  = roundstate.ResultFailed
	ResultSkipped = roundstate.ResultSkipped
)

// State is what the state file holds: how many rounds ended how, the last
// good snapshot and the last round. `etcdboot-agent watch` exports it as
// metrics; an operator reads it with cat.
type State struct {
	// Counts count rounds by result since the file was made.
	roundstate.Counts
	// LastSuccess is when the newest good snapshot was taken; zero for never.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// LastSnapshot is the newest good snapshot's file.
	LastSnapshot string `json:"lastSnapshot,omitempty"`
	// Uploads and UploadsFailed count uploads to backup.target by result;
	// LastUpload is when the newest uploaded snapshot was taken, LastObject
	// its name in the target. A round whose upload fails fails, so
	// LastSuccess is also the newest uploaded snapshot when there is a
	// target.
	Uploads       uint64    `json:"uploads,omitempty"`
	UploadsFailed uint64    `json:"uploadsFailed,omitempty"`
	LastUpload    time.Time `json:"lastUpload,omitzero"`
	LastObject    string    `json:"lastObject,omitempty"`
	// Last is the newest round, whatever its result.
	Last *Round `json:"last,omitempty"`
}

// Round is one round's outcome.
type Round struct {
	Result   string    `json:"result"`
	Member   string    `json:"member,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Reason says why this member wrote or skipped.
	Reason string `json:"reason,omitempty"`
	// Error is why the round failed.
	Error string `json:"error,omitempty"`
	// ClusterID (hex) and EtcdVersion are the member's, as it answered.
	ClusterID   string `json:"clusterID,omitempty"`
	EtcdVersion string `json:"etcdVersion,omitempty"`
	// Snapshot, SHA256, Revision and TotalKeys describe the snapshot written.
	Snapshot  string `json:"snapshot,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	Revision  int64  `json:"revision,omitempty"`
	TotalKeys int    `json:"totalKeys,omitempty"`
	Size      int64  `json:"size,omitempty"`
	// Pruned are the snapshots retention removed.
	Pruned []string `json:"pruned,omitempty"`
	// Uploaded is true once the upload command succeeded.
	Uploaded bool `json:"uploaded,omitempty"`
	// Upload is the upload to backup.target; nil without a target or when
	// the round failed before it.
	Upload *UploadResult `json:"upload,omitempty"`
	// TrialRestore is the restored keyspace, with testRestore.
	TrialRestore *TrialResult `json:"trialRestore,omitempty"`
}

// UploadResult is one upload to backup.target.
type UploadResult struct {
	// Target is backup.target; Name the backup's name in it and Object its
	// snapshot object's key.
	Target string `json:"target"`
	Name   string `json:"name,omitempty"`
	Object string `json:"object,omitempty"`
	// OK is true once the manifest is written: the backup is complete.
	OK bool `json:"ok"`
	// Error is why it failed.
	Error string `json:"error,omitempty"`
	// Pruned are the backups the target's retention removed.
	Pruned []string `json:"pruned,omitempty"`
}

// TrialResult is what a test restore found in the restored member.
type TrialResult struct {
	Revision  int64 `json:"revision"`
	TotalKeys int   `json:"totalKeys"`
	// Match is true when both equal the snapshot's at save time.
	Match bool `json:"match"`
}

// stateFile is the backup rounds' state file.
var stateFile = roundstate.File{Name: StateFile, What: "backup"}

// ReadState reads the state file in stateDir; a missing file is the zero
// State, not an error.
func ReadState(stateDir string) (State, error) {
	return roundstate.Read[State](stateFile, stateDir)
}

// Record adds a round to the state. Pure.
func (s State) Record(r Round) State {
	s.Counts = s.Counts.Add(r.Result)
	if r.Result == ResultOK {
		s.LastSuccess, s.LastSnapshot = r.Started, r.Snapshot
	}
	if u := r.Upload; u != nil {
		if u.OK {
			s.Uploads++
			s.LastUpload, s.LastObject = r.Started, u.Name
		} else {
			s.UploadsFailed++
		}
	}
	s.Last = &r
	return s
}

// recordRound adds r to the state file in stateDir.
func recordRound(stateDir string, r Round) error {
	return roundstate.Update(stateFile, stateDir, func(st State) State { return st.Record(r) })
}
