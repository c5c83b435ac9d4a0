package bootstrap

import "testing"

func TestListedUnderAnotherID(t *testing.T) {
	const payloadID, dataDirID, recovered = 0x11, 0x22, 0x33
	for _, tc := range []struct {
		name     string
		action   Action
		self     SelfState
		listed   uint64
		dataDir  uint64
		expected bool
	}{
		{"an initial member booting late under the payload's ID", ActionNew, SelfUnstarted, payloadID, 0, false},
		{"an initial member booting late after a recovery", ActionNew, SelfUnstarted, recovered, 0, true},
		{"a survivor still on the old data after the others recovered", ActionRestart, SelfUnstarted, recovered, dataDirID, true},
		{"a restart over its own unstarted learner", ActionRestart, SelfUnstarted, dataDirID, dataDirID, false},
		{"a restart whose data dir names no ID", ActionRestart, SelfUnstarted, recovered, 0, false},
		{"a started member is not recovered", ActionRestart, SelfStarted, recovered, dataDirID, false},
		{"a join is not recovered", ActionJoin, SelfUnstarted, recovered, 0, false},
		{"absent", ActionNew, SelfAbsent, recovered, 0, false},
	} {
		if got := listedUnderAnotherID(tc.action, tc.self, tc.listed, payloadID, tc.dataDir); got != tc.expected {
			t.Errorf("%s: listedUnderAnotherID = %v, want %v", tc.name, got, tc.expected)
		}
	}
}
