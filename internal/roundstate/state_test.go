package roundstate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type counts struct {
	OK     int `json:"ok"`
	Failed int `json:"failed"`
}

var file = File{Name: "rounds.json", What: "test"}

func TestUpdateReadsRecordsAndReplaces(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	st, err := Read[counts](file, dir)
	if err != nil || st != (counts{}) {
		t.Fatalf("a missing file reads %+v, %v; want the zero state", st, err)
	}
	for range 3 {
		if err := Update(file, dir, func(c counts) counts { c.OK++; return c }); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := Read[counts](file, dir); err != nil || st.OK != 3 {
		t.Fatalf("after 3 updates: %+v, %v", st, err)
	}
}

func TestADamagedFileIsNamedAndStartedAgain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, file.Name)
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Read[counts](file, dir)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("err = %v; want the path and what to do", err)
	}
	if err := Update(file, dir, func(c counts) counts { c.Failed++; return c }); err != nil {
		t.Fatal(err)
	}
	if st, err := Read[counts](file, dir); err != nil || st != (counts{Failed: 1}) {
		t.Fatalf("after an update over a damaged file: %+v, %v", st, err)
	}
}

func TestLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	busy := errors.New("another round runs")
	unlock, err := Lock(dir, "r.lock", busy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir, "r.lock", busy); !errors.Is(err, busy) {
		t.Fatalf("second Lock: %v, want %v", err, busy)
	}
	unlock()
	unlock2, err := Lock(dir, "r.lock", busy)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
}

func TestFollowerSeesABaselineThenChanges(t *testing.T) {
	update := func(dir string, c counts) {
		t.Helper()
		if err := Update(file, dir, func(counts) counts { return c }); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("file before the first read is a baseline", func(t *testing.T) {
		dir := t.TempDir()
		update(dir, counts{OK: 5})
		var f Follower[counts]
		prev, cur, changed, err := f.Next(file, dir)
		if err != nil || !changed || prev != nil || cur.OK != 5 {
			t.Fatalf("first Next = %v, %+v, %v, %v; want a baseline of 5", prev, cur, changed, err)
		}
		if _, _, changed, _ := f.Next(file, dir); changed {
			t.Fatal("Next without a change reports one")
		}
		update(dir, counts{OK: 6, Failed: 10})
		prev, cur, changed, err = f.Next(file, dir)
		if err != nil || !changed || prev.OK != 5 || cur.OK != 6 || cur.Failed != 10 {
			t.Fatalf("Next after a round = %+v, %+v, %v, %v", prev, cur, changed, err)
		}
	})
	t.Run("no file at the first read: the zero state is the baseline", func(t *testing.T) {
		dir := t.TempDir()
		var f Follower[counts]
		if _, _, changed, err := f.Next(file, dir); changed || err != nil {
			t.Fatalf("Next of a missing file = %v, %v", changed, err)
		}
		update(dir, counts{OK: 1})
		prev, cur, changed, err := f.Next(file, dir)
		if err != nil || !changed || prev == nil || *prev != (counts{}) || cur.OK != 1 {
			t.Fatalf("Next after the first round = %+v, %+v, %v, %v; want every round new", prev, cur, changed, err)
		}
	})
}

func TestCountsAddCountsKnownResultsOnly(t *testing.T) {
	var c Counts
	for _, r := range []string{ResultOK, ResultSkipped, ResultOK, ResultFailed, "", "unknown"} {
		c = c.Add(r)
	}
	if want := (Counts{OK: 2, Failed: 1, Skipped: 1}); c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
}
