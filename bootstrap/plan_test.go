package bootstrap

import (
	"errors"
	"testing"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		in      Observed
		want    Action
		state   string
		aside   bool
		wantErr error
	}{
		{"first boot forms a new cluster", Observed{}, ActionNew, "new", false, nil},
		{"own data dir restarts", Observed{DataDir: DataDirOurs}, ActionRestart, "existing", false, nil},
		{"own data dir restarts even with a running cluster", Observed{DataDir: DataDirOurs, ClusterRunning: true}, ActionRestart, "existing", false, nil},
		{"empty disk with running cluster joins", Observed{ClusterRunning: true}, ActionJoin, "existing", false, nil},
		{"foreign data dir with running cluster rejoins", Observed{DataDir: DataDirForeign, ClusterRunning: true}, ActionRejoin, "existing", true, nil},
		{"foreign data dir alone is refused", Observed{DataDir: DataDirForeign, DataDirDetail: "x"}, "", "", false, ErrForeignDataDir},
		{"restore wins", Observed{DataDir: DataDirOurs, Restore: true}, ActionRestore, "new", true, nil},
		{"restore on empty disk moves nothing", Observed{Restore: true}, ActionRestore, "new", false, nil},
		{"restore already done restarts", Observed{DataDir: DataDirOurs, Restore: true, RestoreDone: true}, ActionRestart, "existing", false, nil},
		{"unfinished join resumes", Observed{Journaled: ActionJoin}, ActionJoin, "existing", false, nil},
		{"unfinished join resumes even if listed unstarted", Observed{Journaled: ActionJoin, ClusterRunning: true, Self: SelfUnstarted}, ActionJoin, "existing", false, nil},
		{"late initial member starts as new", Observed{ClusterRunning: true, Self: SelfUnstarted}, ActionNew, "new", false, nil},
		{"replaced disk of a started member joins", Observed{ClusterRunning: true, Self: SelfStarted}, ActionJoin, "existing", false, nil},
		{"data dir of a removed member rejoins", Observed{DataDir: DataDirOurs, ClusterRunning: true, Self: SelfAbsent}, ActionRejoin, "existing", true, nil},
		{"own data dir, listed, restarts", Observed{DataDir: DataDirOurs, ClusterRunning: true, Self: SelfStarted}, ActionRestart, "existing", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decide(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if p.Action != tt.want || p.ClusterState != tt.state || p.MoveAside != tt.aside || p.Reason == "" {
				t.Errorf("Decide(%+v) = %+v", tt.in, p)
			}
		})
	}
}

func TestQuorumAfterRemoval(t *testing.T) {
	for _, tc := range []struct {
		voters, healthy int
		ok              bool
	}{
		{5, 5, true}, {3, 3, true}, {2, 2, true}, {1, 1, false}, {3, 2, false}, {5, 4, false},
	} {
		err := QuorumAfterRemoval(tc.voters, tc.healthy)
		if (err == nil) != tc.ok {
			t.Errorf("QuorumAfterRemoval(%d, %d) = %v", tc.voters, tc.healthy, err)
		}
		if err != nil && !errors.Is(err, ErrQuorumAtRisk) {
			t.Errorf("error does not wrap ErrQuorumAtRisk: %v", err)
		}
	}
}
