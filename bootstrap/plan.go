package bootstrap

import (
	"errors"
	"fmt"
)

// Action is what the agent does with its member.
type Action string

// The actions a plan can take.
const (
	// ActionNew bootstraps a new cluster (initial-cluster-state=new).
	ActionNew Action = "new"
	// ActionJoin adds this node to a running cluster as a learner.
	ActionJoin Action = "join"
	// ActionRestart starts etcd on a data dir that belongs to this member.
	ActionRestart Action = "restart"
	// ActionRejoin moves a stale data dir aside, then joins.
	ActionRejoin Action = "rejoin"
	// ActionRestore rebuilds the member from a snapshot with a new cluster token.
	ActionRestore Action = "restore"
)

// ErrForeignDataDir means the data dir belongs to another member or cluster
// and nothing running can tell the agent it is safe to replace it.
var ErrForeignDataDir = errors.New("data dir belongs to another member or cluster")

// DataDirState is what the agent found in etcd's data dir.
type DataDirState int

// Data dir states, from inspecting member/snap/db.
const (
	// DataDirEmpty: missing or holding no member data.
	DataDirEmpty DataDirState = iota
	// DataDirOurs: the db lists this member (same ID, name and peer URLs).
	DataDirOurs
	// DataDirForeign: the db belongs to another member or cluster.
	DataDirForeign
)

func (s DataDirState) String() string {
	switch s {
	case DataDirEmpty:
		return "empty"
	case DataDirOurs:
		return "ours"
	case DataDirForeign:
		return "foreign"
	}
	return fmt.Sprintf("DataDirState(%d)", int(s))
}

// SelfState is what a running cluster's member list says about this node.
type SelfState int

// What the member list says about this node.
const (
	// SelfUnknown: no running cluster was asked.
	SelfUnknown SelfState = iota
	// SelfAbsent: not listed (never added, or removed).
	SelfAbsent
	// SelfUnstarted: listed by peer URL but never started: an initial member
	// that has not booted yet, or a learner added by an unfinished join.
	SelfUnstarted
	// SelfStarted: listed and started at some point.
	SelfStarted
)

// Observed is everything Decide looks at; gathering it is separate.
type Observed struct {
	// Self is what the running cluster says about this node.
	Self    SelfState
	DataDir DataDirState
	// DataDirDetail says why a data dir is foreign, for the message.
	DataDirDetail string
	// ClusterRunning is true when discovery found a healthy cluster that does
	// not list this member's data dir as current (join and rejoin need it).
	ClusterRunning bool
	// Restore is set when the payload asks for a snapshot restore.
	Restore bool
	// RestoreDone is true when the journal says this restore already ran.
	RestoreDone bool
	// Journaled is the action of an unfinished earlier run, if any.
	Journaled Action
}

// Plan is what the agent will do and why.
type Plan struct {
	Action Action `json:"action"`
	// ClusterState is etcd's --initial-cluster-state: "new" or "existing".
	ClusterState string `json:"clusterState"`
	// MoveAside asks for the current data dir to be moved aside first.
	MoveAside bool   `json:"moveAside,omitempty"`
	Reason    string `json:"reason"`
	// Recover is the backup a restore forms the cluster from after a total
	// loss (recovery.fromBackup: auto); nil for the payload's restore.
	Recover *RecoverySource `json:"recover,omitempty"`
}

// Decide returns the plan for what was observed. It is pure: same input, same
// plan, no I/O.
func Decide(o Observed) (Plan, error) {
	if o.Restore && !o.RestoreDone {
		return Plan{Action: ActionRestore, ClusterState: "new", MoveAside: o.DataDir != DataDirEmpty,
			Reason: "the payload asks for a restore from a snapshot"}, nil
	}
	switch o.DataDir {
	case DataDirOurs:
		if o.ClusterRunning && o.Self == SelfAbsent {
			return Plan{Action: ActionRejoin, ClusterState: "existing", MoveAside: true,
				Reason: "the data dir belongs to a member the running cluster has removed: move it aside and join"}, nil
		}
		return Plan{Action: ActionRestart, ClusterState: "existing", Reason: "the data dir belongs to this member"}, nil
	case DataDirForeign:
		if o.ClusterRunning {
			return Plan{Action: ActionRejoin, ClusterState: "existing", MoveAside: true,
				Reason: "the data dir is stale (" + o.DataDirDetail + ") and a healthy cluster runs: move it aside and join"}, nil
		}
		return Plan{}, fmt.Errorf("%w: %s; no running cluster confirms it is stale, so it is kept: "+
			"move it aside yourself if it is not needed, or fix the payload's cluster token and member name", ErrForeignDataDir, o.DataDirDetail)
	}
	switch {
	case o.Journaled == ActionJoin || o.Journaled == ActionRejoin:
		// An earlier run was joining (maybe already added as a learner): finish that.
		return Plan{Action: ActionJoin, ClusterState: "existing", Reason: "resuming an unfinished join"}, nil
	case o.ClusterRunning && o.Self == SelfUnstarted:
		return Plan{Action: ActionNew, ClusterState: "new", Reason: "this node is an initial member of the running cluster that has not started yet"}, nil
	case o.ClusterRunning && o.Self == SelfStarted:
		return Plan{Action: ActionJoin, ClusterState: "existing", Reason: "the cluster lists this member as started but the data dir is empty (a replaced disk): replace the stale member"}, nil
	case o.ClusterRunning:
		return Plan{Action: ActionJoin, ClusterState: "existing", Reason: "a healthy cluster runs and the data dir is empty"}, nil
	}
	return Plan{Action: ActionNew, ClusterState: "new", Reason: "no cluster runs and the data dir is empty"}, nil
}
