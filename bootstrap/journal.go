package bootstrap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/etcdboot/etcdboot/internal/atomicfile"
)

// Step is one step of `etcdboot-agent up`, in the order they run.
type Step string

// The agent's steps.
const (
	StepPayload   Step = "payload"
	StepFirewall  Step = "firewall"
	StepDiscovery Step = "discovery"
	StepPlan      Step = "plan"
	// StepVersion applies etcd's upgrade rules to the binary, the data dir
	// and the cluster before anything changes.
	StepVersion Step = "version"
	StepDataDir Step = "datadir"
	// StepMembership adds a joining node to the cluster as a learner.
	StepMembership Step = "membership"
	StepConfig     Step = "config"
	StepStart      Step = "start"
	StepHealthy    Step = "healthy"
)

// Steps lists every step in order.
var Steps = []Step{StepPayload, StepFirewall, StepDiscovery, StepPlan, StepVersion, StepDataDir, StepMembership, StepConfig, StepStart, StepHealthy}

// JournalState is what the journal file holds.
type JournalState struct {
	// Token and Member say which cluster and member the journal is about; a
	// journal for another token is an earlier life of this node.
	Token  string `json:"token"`
	Member string `json:"member"`
	// MemberID is the member's etcd ID once known (hex in etcdctl).
	MemberID uint64 `json:"memberID,omitempty"`
	// Plan is the plan of the current run.
	Plan *Plan `json:"plan,omitempty"`
	// JoinEndpoints are the voting members' client URLs when this node
	// joined: where its learner asks to be promoted, also from the separate
	// health-gate process under systemd (a learner serves no such request).
	JoinEndpoints []string `json:"joinEndpoints,omitempty"`
	// LearnerClaim is the lease of this learner's claim
	// (LearnerClaimsPrefix), which `ready` keeps alive until the promotion.
	LearnerClaim int64 `json:"learnerClaim,omitempty"`
	// Done lists the steps of the current run that completed.
	Done []StepRecord `json:"done"`
	// RestoredSHA256 is the digest of the snapshot already restored.
	RestoredSHA256 string `json:"restoredSHA256,omitempty"`
	// RestoreToken is the token a recovery from a backup restored the data
	// dir with (RecoverySource.Token); the data dir's member IDs follow it.
	RestoreToken string `json:"restoreToken,omitempty"`
	// Left is set by `leave` once this member left its cluster on purpose:
	// the supervising `up` then lets etcd's exit end it instead of running
	// the boot steps again (which would rejoin). The next `up` clears it.
	Left bool `json:"left,omitempty"`
	// AgentPID is the process of the `up` run that wrote the journal last:
	// a supervising `up` whose etcd was stopped by a newer `up` (an
	// in-place upgrade takes the member over) finds another pid here and
	// ends instead of starting its etcd again.
	AgentPID int `json:"agentPID,omitempty"`
	// AppliedRecoveryRequest is the nonce of the last operator's recovery
	// request this member acted on.
	AppliedRecoveryRequest string `json:"appliedRecoveryRequest,omitempty"`
	// MovedAside lists data dirs this agent moved aside, newest last.
	MovedAside []string `json:"movedAside,omitempty"`
	// EtcdVersion is the etcd release this agent last started.
	EtcdVersion string `json:"etcdVersion,omitempty"`
	// Upgrades records each decision that changed (or refused to change)
	// the etcd release, oldest first; the last ten are kept.
	Upgrades []UpgradeRecord `json:"upgrades,omitempty"`
}

// UpgradePhase is where an upgrade of this member's etcd stands.
type UpgradePhase string

// The phases of an upgrade, as journaled and exported as a metric.
const (
	// UpgradeWaiting: waiting for the cluster-wide lock or the gate.
	UpgradeWaiting UpgradePhase = "upgrade-waiting"
	// UpgradeStarted: the lock is held and etcd starts on the new binary.
	UpgradeStarted UpgradePhase = "upgrade-started"
	// UpgradeDone: the member passed the health gate on the new binary.
	UpgradeDone UpgradePhase = "upgrade-done"
	// UpgradeRefused: the rules forbid the binary; nothing was changed.
	UpgradeRefused UpgradePhase = "upgrade-refused"
)

// UpgradeRecord is one journaled upgrade decision.
type UpgradeRecord struct {
	From   string       `json:"from,omitempty"`
	To     string       `json:"to"`
	Phase  UpgradePhase `json:"phase"`
	Reason string       `json:"reason"`
	// Started is when the lock was taken; Done when the health gate passed.
	Started time.Time `json:"started"`
	Done    time.Time `json:"done,omitzero"`
}

// StepRecord is a completed step.
type StepRecord struct {
	Step Step      `json:"step"`
	At   time.Time `json:"at"`
}

// Journal persists JournalState in a directory, atomically.
type Journal struct {
	path  string
	State JournalState
}

// OpenJournal loads dir/journal.json, or starts an empty journal.
func OpenJournal(dir string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal dir: %w", err)
	}
	j := &Journal{path: filepath.Join(dir, "journal.json")}
	data, err := os.ReadFile(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	if err := json.Unmarshal(data, &j.State); err != nil {
		// A journal cut short by a crash is kept for inspection, not trusted.
		bad := j.path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(j.path, bad); rerr != nil {
			return nil, fmt.Errorf("journal %s is corrupt (%v) and cannot be moved aside: %w", j.path, err, rerr)
		}
		j.State = JournalState{}
	}
	return j, nil
}

// Path is the journal file.
func (j *Journal) Path() string { return j.path }

// Has reports whether step completed in the current run.
func (j *Journal) Has(step Step) bool {
	return slices.ContainsFunc(j.State.Done, func(r StepRecord) bool { return r.Step == step })
}

// Record marks step done and saves the journal.
func (j *Journal) Record(step Step, now time.Time) error {
	if !j.Has(step) {
		j.State.Done = append(j.State.Done, StepRecord{Step: step, At: now.UTC()})
	}
	return j.Save()
}

// Save writes the journal: temp file, fsync, rename, fsync the directory.
func (j *Journal) Save() error {
	data, err := json.MarshalIndent(j.State, "", "  ")
	if err != nil {
		return fmt.Errorf("encode journal: %w", err)
	}
	return writeFileAtomic(j.path, append(data, '\n'), 0o600)
}

// writeFileAtomic replaces path so that a crash leaves the old or the new file.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	return atomicfile.Write(path, data, mode)
}

// handedOver reads the journal file at path as another process last
// wrote it and reports whether this member is no longer this `up`'s
// (pid) to run: `leave` took it out of its cluster, or a newer `up` took
// it over.
func handedOver(path string, pid int) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var st JournalState
	if json.Unmarshal(data, &st) != nil {
		return false
	}
	return st.Left || st.AgentPID != 0 && st.AgentPID != pid
}
