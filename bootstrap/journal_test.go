package bootstrap

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestMemberIDMatchesEtcd(t *testing.T) {
	// The ID real etcd 3.6.16 gave member n1 with this peer URL and token.
	if got := MemberID([]string{"http://127.0.0.1:23800"}, "tok"); got != 0x25351fad42b3c84c {
		t.Errorf("MemberID = %x", got)
	}
}

func TestJournalSurvivesAndRecovers(t *testing.T) {
	dir := t.TempDir()
	j, err := OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	j.State.Token, j.State.Plan = "tok", &Plan{Action: ActionNew}
	if err := j.Record(StepFirewall, time.Now()); err != nil {
		t.Fatal(err)
	}
	j2, err := OpenJournal(dir)
	if err != nil || !j2.Has(StepFirewall) || j2.Has(StepStart) || j2.State.Plan.Action != ActionNew {
		t.Fatalf("reloaded journal: %+v %v", j2.State, err)
	}
	// A torn journal is moved aside, not trusted and not deleted.
	if err := os.WriteFile(j.Path(), []byte(`{"token": "to`), 0o600); err != nil {
		t.Fatal(err)
	}
	j3, err := OpenJournal(dir)
	if err != nil || j3.Has(StepFirewall) {
		t.Fatalf("corrupt journal trusted: %+v %v", j3.State, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "journal.json.corrupt-*")); len(m) != 1 {
		t.Errorf("corrupt journal not kept aside: %v", m)
	}
}

func TestMoveAsideNeverDeletes(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "etcd")
	if err := os.MkdirAll(filepath.Join(data, "member"), 0o700); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	a, err := MoveAside(data, "rejoin", now)
	if err != nil || a != data+".etcdboot-rejoin-20261125T100000Z" {
		t.Fatalf("MoveAside = %q, %v", a, err)
	}
	if err := os.MkdirAll(filepath.Join(data, "member"), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := MoveAside(data, "rejoin", now)
	if err != nil || b == a {
		t.Fatalf("second MoveAside = %q, %v", b, err)
	}
	for _, p := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(p, "member")); err != nil {
			t.Errorf("moved dir lost its content: %v", err)
		}
	}
}

// TestHandedOver: a supervising up ends, instead of starting etcd again,
// once the journal says leave took the member out or another up took it.
func TestHandedOver(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   JournalState
		want bool
	}{
		{"this up's", JournalState{AgentPID: 42}, false},
		{"an older journal without a pid", JournalState{}, false},
		{"a newer up took the member over", JournalState{AgentPID: 43}, true},
		{"leave", JournalState{AgentPID: 42, Left: true}, true},
	} {
		dir := t.TempDir()
		j, err := OpenJournal(dir)
		if err != nil {
			t.Fatal(err)
		}
		j.State = tc.st
		if err := j.Save(); err != nil {
			t.Fatal(err)
		}
		if got := handedOver(j.Path(), 42); got != tc.want {
			t.Errorf("%s: handedOver = %v, want %v", tc.name, got, tc.want)
		}
	}
	if handedOver(filepath.Join(t.TempDir(), "none.json"), 42) {
		t.Error("a missing journal counts as handed over")
	}
}
