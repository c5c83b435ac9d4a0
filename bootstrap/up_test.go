package bootstrap

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/spec"
)

func TestUpRunsTheStepsInJournalOrder(t *testing.T) {
	var got []Step
	for _, s := range (&Agent{}).upSteps() {
		got = append(got, s.step)
	}
	if !slices.Equal(got, Steps) {
		t.Errorf("Up's steps = %v, want Steps %v", got, Steps)
	}
}

func TestStepsToRun(t *testing.T) {
	tests := []struct {
		name string
		exec bool
		want []Step
	}{
		{"exec mode runs the health gate itself", true, Steps},
		{"under systemd etcd.service runs the health gate", false, Steps[:len(Steps)-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stepsToRun(tt.exec); !slices.Equal(got, tt.want) {
				t.Errorf("stepsToRun(%v) = %v, want %v", tt.exec, got, tt.want)
			}
		})
	}
	if Steps[len(Steps)-1] != StepHealthy {
		t.Fatalf("the health gate is not the last step: %v", Steps)
	}
}

func TestJournaledAction(t *testing.T) {
	done := func(steps ...Step) []StepRecord {
		var out []StepRecord
		for _, s := range steps {
			out = append(out, StepRecord{Step: s, At: time.Unix(0, 0)})
		}
		return out
	}
	join := &Plan{Action: ActionJoin}
	tests := []struct {
		name string
		prev JournalState
		want Action
	}{
		{"first boot", JournalState{}, ""},
		{"a join cut short resumes", JournalState{Token: "t", Plan: join, Done: done(StepPayload, StepPlan)}, ActionJoin},
		{"a finished run is not resumed", JournalState{Token: "t", Plan: join, Done: done(StepPlan, StepHealthy)}, ""},
		{"another cluster's journal is not resumed", JournalState{Token: "old", Plan: join, Done: done(StepPlan)}, ""},
		{"a run cut before its plan", JournalState{Token: "t", Done: done(StepPayload)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := journaledAction(tt.prev, "t"); got != tt.want {
				t.Errorf("journaledAction = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJournalFor(t *testing.T) {
	plan := &Plan{Action: ActionRestart}
	ours := JournalState{Token: "t", Member: "etcd1", MemberID: 7, Plan: plan, MovedAside: []string{"/d.1"}}
	tests := []struct {
		name string
		st   JournalState
		want JournalState
	}{
		{"this member's journal is kept", ours, ours},
		{"an empty journal becomes this member's", JournalState{}, JournalState{Token: "t", Member: "etcd1"}},
		{"another cluster's keeps only what it moved aside", JournalState{Token: "old", Member: "etcd1", MemberID: 9, Plan: plan, MovedAside: []string{"/d.1"}},
			JournalState{Token: "t", Member: "etcd1", MovedAside: []string{"/d.1"}}},
		{"another member's keeps only what it moved aside", JournalState{Token: "t", Member: "etcd2", MemberID: 9, RestoredSHA256: "ab"},
			JournalState{Token: "t", Member: "etcd1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := journalFor(tt.st, "t", "etcd1"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("journalFor = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestObserve(t *testing.T) {
	restore := &spec.Restore{SHA256: "ab"}
	unfinishedJoin := JournalState{Token: "t", Plan: &Plan{Action: ActionJoin}}
	tests := []struct {
		name    string
		rep     DataDirReport
		restore *spec.Restore
		st      JournalState
		prev    JournalState
		running bool
		self    SelfState
		want    Observed
	}{
		{"first boot", DataDirReport{}, nil, JournalState{}, JournalState{}, false, SelfUnknown, Observed{}},
		{"the data dir report", DataDirReport{State: DataDirForeign, Detail: "cluster x"}, nil, JournalState{}, JournalState{}, false, SelfUnknown,
			Observed{DataDir: DataDirForeign, DataDirDetail: "cluster x"}},
		{"a restore to do", DataDirReport{}, restore, JournalState{}, JournalState{}, false, SelfUnknown, Observed{Restore: true}},
		{"a restore done", DataDirReport{}, restore, JournalState{RestoredSHA256: "ab"}, JournalState{}, false, SelfUnknown, Observed{Restore: true, RestoreDone: true}},
		{"another snapshot's restore is not this one", DataDirReport{}, restore, JournalState{RestoredSHA256: "cd"}, JournalState{}, false, SelfUnknown, Observed{Restore: true}},
		{"an unfinished join", DataDirReport{}, nil, JournalState{}, unfinishedJoin, false, SelfUnknown, Observed{Journaled: ActionJoin}},
		{"a running cluster and what it says about this node", DataDirReport{}, nil, JournalState{}, JournalState{}, true, SelfStarted, Observed{ClusterRunning: true, Self: SelfStarted}},
		{"no running cluster says nothing", DataDirReport{}, nil, JournalState{}, JournalState{}, false, SelfStarted, Observed{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := observe(tt.rep, tt.restore, tt.st, tt.prev, "t", tt.running, tt.self); got != tt.want {
				t.Errorf("observe = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNeedsRunningCluster(t *testing.T) {
	tests := []struct {
		action  Action
		running bool
		want    bool
	}{
		{ActionJoin, false, true},
		{ActionRejoin, false, true},
		{ActionJoin, true, false},
		{ActionNew, false, false},
		{ActionRestart, false, false},
		{ActionRestore, false, false},
	}
	for _, tt := range tests {
		if got := needsRunningCluster(Plan{Action: tt.action}, tt.running); got != tt.want {
			t.Errorf("needsRunningCluster(%s, running %v) = %v, want %v", tt.action, tt.running, got, tt.want)
		}
	}
}
