package maintenance

import (
	"errors"
	"time"

	"github.com/etcdboot/etcdboot/internal/roundstate"
)

// StateFile is the file, in the agent's state dir, that records rounds.
const StateFile = "maintenance.json"

// Results of a round.
const (
	ResultOK      = roundstate.ResultOK
	ResultFailed  = roundstate.ResultFailed
	ResultSkipped = roundstate.ResultSkipped
)

// Counts are rounds of one kind by result.
type Counts = roundstate.Counts

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

// stateFile is the maintenance rounds' state file.
var stateFile = roundstate.File{Name: StateFile, What: "maintenance"}

// ReadState reads the state file in stateDir; a missing file is the zero
// State, not an error.
func ReadState(stateDir string) (State, error) {
	return roundstate.Read[State](stateFile, stateDir)
}

// Record adds a round to the state. Pure.
func (s State) Record(r Round) State {
	c := &s.Defrag
	if r.Kind == KindHeal {
		c = &s.Heal
	}
	*c = c.Add(r.Result)
	if r.Result == ResultOK && len(r.Members) > 0 {
		s.LastSuccess = r.Finished
	}
	s.Reclaimed += r.Reclaimed
	s.Last = &r
	return s
}

// recordRound adds r to the state file in stateDir.
func recordRound(stateDir string, r Round) error {
	return roundstate.Update(stateFile, stateDir, func(st State) State { return st.Record(r) })
}

// ErrRoundRunning is returned when another round of this node holds the
// state dir's round lock.
var ErrRoundRunning = errors.New("another maintenance round of this node is running")

// lockRounds takes an exclusive lock on the state dir's round lock, so the
// timer's round, one by hand and the watcher's heal never run at once on
// one node.
func lockRounds(stateDir string) (func(), error) {
	return roundstate.Lock(stateDir, "maintenance.lock", ErrRoundRunning)
}
