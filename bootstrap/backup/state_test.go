package backup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStateCountsRoundsAndKeepsTheLastSuccess(t *testing.T) {
	dir := t.TempDir()
	if st, err := ReadState(dir); err != nil || st.OK+st.Failed+st.Skipped != 0 || st.Last != nil {
		t.Fatalf("no file: %+v, %v", st, err)
	}
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	rounds := []Round{
		{Result: ResultOK, Started: t0, Snapshot: "/b/a.db"},
		{Result: ResultSkipped, Started: t0.Add(time.Hour), Reason: "not the leader"},
		{Result: ResultFailed, Started: t0.Add(2 * time.Hour), Error: "no leader"},
	}
	for _, r := range rounds {
		if err := recordRound(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	st, err := ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.OK != 1 || st.Skipped != 1 || st.Failed != 1 || !st.LastSuccess.Equal(t0) || st.LastSnapshot != "/b/a.db" ||
		st.Last == nil || st.Last.Error != "no leader" {
		t.Errorf("state %+v (last %+v)", st, st.Last)
	}
	// A damaged state file is reported, and the next round starts it again.
	path := filepath.Join(dir, StateFile)
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(dir); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("damaged state: %v", err)
	}
	if err := recordRound(dir, rounds[0]); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadState(dir); err != nil || st.OK != 1 || st.Failed != 0 {
		t.Errorf("after a damaged file: %+v, %v", st, err)
	}
}

func TestStateCountsUploadsApartFromRounds(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	var st State
	st = st.Record(Round{Result: ResultOK, Started: t0, Snapshot: "/b/a.db", Upload: &UploadResult{Target: "s3://b/etcd", Name: "demo-a", OK: true}})
	st = st.Record(Round{Result: ResultFailed, Started: t0.Add(time.Hour), Snapshot: "/b/b.db", Upload: &UploadResult{Target: "s3://b/etcd", Error: "access denied"}})
	st = st.Record(Round{Result: ResultSkipped, Started: t0.Add(2 * time.Hour)})
	if st.Uploads != 1 || st.UploadsFailed != 1 || !st.LastUpload.Equal(t0) || st.LastObject != "demo-a" || st.OK != 1 || st.Failed != 1 || !st.LastSuccess.Equal(t0) {
		t.Errorf("state %+v", st)
	}
}
