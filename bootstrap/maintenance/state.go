package maintenance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/etcdboot/etcdboot/internal/atomicfile"
)

// StateFile is the file, in the agent's state dir, that records rounds.
const StateFile = "maintenance.json"

// Results of a round.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// Counts are rounds of one kind by result.
type Counts struct {
	OK      uint64 `json:"ok"`
	Failed  uint64 `json:"failed"`
	Skipped uint64 `json:"skipped"`
}

// State is what the state file holds: how many rounds of each kind ended
// how, the bytes they reclaimed and the last round. `etcdboot-agent watch`
// exports it as metrics; an operator reads it with cat.
type State struct {
	Defrag Counts `json:"defrag"`
	Heal   Counts `json:"heal"`
	// Reclaimed is the bytes every round of this agent gave back.
	Reclaimed int64 `json:"reclaimedBytes"`
	// LastSuccess is when the newest round that defragmented finished.
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// Last is the newest round, whatever its result.
	Last *Round `json:"last,omitempty"`
}

// Round is one round's outcome.
type Round struct {
	// Kind is defrag or heal; Result ok, failed or skipped.
	Kind   string `json:"kind"`
	Result string `json:"result"`
	// Trigger is timer, manual (defrag --now) or alarm (the watcher).
	Trigger string `json:"trigger"`
	// Member is this agent's member.
	Member   string    `json:"member,omitempty"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Reason says why the round did what it did or skipped.
	Reason string `json:"reason,omitempty"`
	// Error is why it failed.
	Error string `json:"error,omitempty"`
	// Lock says how the round was serialized: "held" (the cluster-wide
	// lock) or "healer" (NOSPACE refuses the lock; this agent is the
	// healer every agent agrees on).
	Lock string `json:"lock,omitempty"`
	// Compacted is the revision a heal compacted to; 0 for none.
	Compacted int64 `json:"compacted,omitempty"`
	// Disarmed is true once a heal disarmed NOSPACE.
	Disarmed bool `json:"disarmed,omitempty"`
	// Members are the members defragmented, in order.
	Members []MemberResult `json:"members,omitempty"`
	// Reclaimed is what the round gave back, summed over its members.
	Reclaimed int64 `json:"reclaimedBytes,omitempty"`
}

// Duration is how long the round took.
func (r Round) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// MemberResult is one member's defragmentation.
type MemberResult struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	// MovedLeaderTo names the member leadership moved to first, for the
	// member that led.
	MovedLeaderTo string `json:"movedLeaderTo,omitempty"`
	// Before and After are its database file's size.
	Before int64 `json:"before"`
	After  int64 `json:"after"`
	// Started is when its defragmentation began; Took how long it took
	// until the member answered healthy again.
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"took"`
}

// ReadState reads the state file in stateDir; a missing file is the zero
// State, not an error.
func ReadState(stateDir string) (State, error) {
	var st State
	path := filepath.Join(stateDir, StateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read maintenance state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, fmt.Errorf("maintenance state %s: %w; remove it, the next round writes a new one", path, err)
	}
	return st, nil
}

// Record adds a round to the state. Pure.
func (s State) Record(r Round) State {
	c := &s.Defrag
	if r.Kind == KindHeal {
		c = &s.Heal
	}
	switch r.Result {
	case ResultOK:
		c.OK++
		if len(r.Members) > 0 {
			s.LastSuccess = r.Finished
		}
	case ResultFailed:
		c.Failed++
	case ResultSkipped:
		c.Skipped++
	}
	s.Reclaimed += r.Reclaimed
	s.Last = &r
	return s
}

// recordRound adds r to the state file in stateDir.
func recordRound(stateDir string, r Round) error {
	st, err := ReadState(stateDir)
	if err != nil {
		// A damaged state file must not stop maintenance: start it again.
		st = State{}
	}
	st = st.Record(r)
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("maintenance state: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("maintenance state: %w", err)
	}
	return atomicfile.Write(filepath.Join(stateDir, StateFile), append(data, '\n'), 0o644)
}

// ErrRoundRunning is returned when another round of this node holds the
// state dir's round lock.
var ErrRoundRunning = errors.New("another maintenance round of this node is running")

// lockRounds takes an exclusive lock on the state dir's round lock, so the
// timer's round, one by hand and the watcher's heal never run at once on
// one node.
func lockRounds(stateDir string) (func(), error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("maintenance: state dir: %w", err)
	}
	path := filepath.Join(stateDir, "maintenance.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("maintenance: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s); wait for it to finish", ErrRoundRunning, path)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
