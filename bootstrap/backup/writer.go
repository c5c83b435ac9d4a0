package backup

import (
	"errors"
	"fmt"

	"github.com/etcdboot/etcdboot/spec"
)

// Observed is what a member sees at the start of a round: itself, the
// leader, and the members' names by ID.
type Observed struct {
	// Writer is the payload's backup.writer: spec.WriterLeader or a name.
	Writer string
	// SelfID is this member's ID; LeaderID the leader's, 0 for none.
	SelfID, LeaderID uint64
	// SelfIsLearner is true while this member is not yet a voting member.
	SelfIsLearner bool
	// Names are the cluster's members' names by ID.
	Names map[uint64]string
}

// Decision says whether this member writes this round's snapshot, and why.
type Decision struct {
	Write  bool
	Reason string
}

// ErrNoWriter means no member can write this round: a failure on every
// member, so that it shows in their metrics, not a skip.
var ErrNoWriter = errors.New("no member writes this round")

// Decide picks the round's writer. With writer "leader" that is the member
// that leads now: one member, since every member asks the same leader. With
// a member name it is that member. A learner never writes. Pure.
func Decide(o Observed) (Decision, error) {
	self := o.Names[o.SelfID]
	if self == "" {
		self = fmt.Sprintf("%x", o.SelfID)
	}
	if o.SelfIsLearner {
		return Decision{Reason: fmt.Sprintf("member %s is a learner", self)}, nil
	}
	if o.Writer == "" || o.Writer == spec.WriterLeader {
		switch o.LeaderID {
		case 0:
			return Decision{}, fmt.Errorf("%w: member %s sees no leader; check the cluster with etcdboot status", ErrNoWriter, self)
		case o.SelfID:
			return Decision{Write: true, Reason: fmt.Sprintf("member %s is the leader", self)}, nil
		}
		leader := o.Names[o.LeaderID]
		if leader == "" {
			leader = fmt.Sprintf("%x", o.LeaderID)
		}
		return Decision{Reason: fmt.Sprintf("member %s is not the leader (%s is)", self, leader)}, nil
	}
	if self == o.Writer {
		return Decision{Write: true, Reason: fmt.Sprintf("member %s is backup.writer", self)}, nil
	}
	for _, n := range o.Names {
		if n == o.Writer {
			return Decision{Reason: fmt.Sprintf("member %s is not backup.writer (%s is)", self, o.Writer)}, nil
		}
	}
	return Decision{}, fmt.Errorf("%w: backup.writer %s is not a member of the cluster; name a current member or write leader, and regenerate the payloads", ErrNoWriter, o.Writer)
}
