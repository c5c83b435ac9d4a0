package rotation

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecideCA(t *testing.T) {
	ep := func(name string, served Issuer, acceptsNew, acceptsOld bool) EndpointTrust {
		return EndpointTrust{Endpoint: name, Served: served, AcceptsNew: acceptsNew, AcceptsOld: acceptsOld}
	}
	down := EndpointTrust{Endpoint: "e3", Error: "connection refused"}
	written := func(p CAPhase) CARotationState { return CARotationState{Phase: p, Written: true} }
	for _, tc := range []struct {
		name    string
		st      CARotationState
		seen    []EndpointTrust
		next    CAPhase
		done    bool
		waiting []string // substrings, one per expected line
		notes   []string
	}{
		{name: "start once every member answers", st: CARotationState{},
			seen: []EndpointTrust{ep("e1", IssuerOld, false, true), ep("e2", IssuerOld, false, true)}, next: CAPhaseTrustBoth},
		{name: "no start with a member down", st: CARotationState{},
			seen: []EndpointTrust{ep("e1", IssuerOld, false, true), down}, waiting: []string{"e3: unreachable"}},
		{name: "no endpoints", st: written(CAPhaseTrustBoth), waiting: []string{"no member endpoint"}},
		{name: "a partly written phase is written again", st: CARotationState{Phase: CAPhaseNewLeaves},
			seen: []EndpointTrust{down}, next: CAPhaseNewLeaves, notes: []string{"not completely written"}},
		{name: "(a) to (b) when every member accepts the new CA", st: written(CAPhaseTrustBoth),
			seen: []EndpointTrust{ep("e1", IssuerOld, true, true), ep("e2", IssuerOld, true, true)}, next: CAPhaseNewLeaves},
		{name: "(a) waits for a member refusing the new CA", st: written(CAPhaseTrustBoth),
			seen:    []EndpointTrust{ep("e1", IssuerOld, true, true), ep("e2", IssuerOld, false, true)},
			waiting: []string{"e2: refuses a certificate of the new CA"}},
		{name: "(a) waits for a member down", st: written(CAPhaseTrustBoth),
			seen: []EndpointTrust{ep("e1", IssuerOld, true, true), down}, waiting: []string{"e3: unreachable"}},
		{name: "(b) waits for a member still serving the old CA", st: written(CAPhaseNewLeaves),
			seen:    []EndpointTrust{ep("e1", IssuerNew, true, true), ep("e2", IssuerOld, true, true)},
			waiting: []string{"e2: serves a certificate of the old CA; run etcdboot-agent certs install"}},
		{name: "(b) to (c) when every member serves the new CA", st: written(CAPhaseNewLeaves),
			seen: []EndpointTrust{ep("e1", IssuerNew, true, true), ep("e2", IssuerNew, true, true)}, next: CAPhaseOldDropped},
		{name: "(c) done, noting members that still accept the old CA", st: written(CAPhaseOldDropped),
			seen: []EndpointTrust{ep("e1", IssuerNew, true, true), ep("e2", IssuerNew, true, false)}, done: true,
			notes: []string{"e1 still accept certificates of the old CA"}},
		{name: "(c) done, every member restarted since", st: written(CAPhaseOldDropped),
			seen: []EndpointTrust{ep("e1", IssuerNew, true, false)}, done: true},
		{name: "(c) waits for a member serving a foreign CA", st: written(CAPhaseOldDropped),
			seen: []EndpointTrust{ep("e1", IssuerOther, false, false)}, waiting: []string{"e1: serves a certificate of the other CA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideCA(tc.st, tc.seen)
			if d.Next != tc.next || d.Done != tc.done {
				t.Errorf("next %q done %v, want %q %v (%+v)", d.Next, d.Done, tc.next, tc.done, d)
			}
			if len(d.Waiting) != len(tc.waiting) {
				t.Fatalf("waiting %q, want %d lines like %q", d.Waiting, len(tc.waiting), tc.waiting)
			}
			for i, w := range tc.waiting {
				if !strings.Contains(d.Waiting[i], w) {
					t.Errorf("waiting[%d] = %q, want it to say %q", i, d.Waiting[i], w)
				}
			}
			if len(d.Notes) != len(tc.notes) {
				t.Fatalf("notes %q, want %q", d.Notes, tc.notes)
			}
			for i, n := range tc.notes {
				if !strings.Contains(d.Notes[i], n) {
					t.Errorf("notes[%d] = %q, want it to say %q", i, d.Notes[i], n)
				}
			}
		})
	}
}

func TestCARotationStateRoundTrips(t *testing.T) {
	dir := t.TempDir()
	if st, err := LoadCARotation(dir); err != nil || st.Phase != CAPhaseNone {
		t.Fatalf("no file: %+v, %v", st, err)
	}
	st := CARotationState{Phase: CAPhaseNewLeaves, Written: true, OldCA: "aa", NewCA: "bb", BackupDir: "x",
		History: []PhaseMark{{CAPhaseTrustBoth, time.Unix(1, 0).UTC()}, {CAPhaseNewLeaves, time.Unix(2, 0).UTC()}}}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCARotation(dir)
	if err != nil || !reflect.DeepEqual(got, st) {
		t.Errorf("loaded %+v, %v; want %+v", got, err, st)
	}
}
