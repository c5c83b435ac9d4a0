package backupstore

import (
	"slices"
	"testing"
)

// TestTableMarksASurvivorsBackup: a backup recover --from-member took
// shows whose data it holds, in the member column; a scheduled one does not.
func TestTableMarksASurvivorsBackup(t *testing.T) {
	l := Listing{Backups: []Manifest{
		{Name: "demo-20240501T110000.000Z", Taken: t0, Member: "etcd1", Source: SourceSurvivor, Verified: true},
		{Name: "demo-20240501T100000.000Z", Taken: t0, Member: "etcd2", Verified: true, TestRestored: true},
	}}
	var members []string
	for _, row := range l.Table().Rows {
		members = append(members, row[len(row)-1])
	}
	if want := []string{"etcd1 (survivor)", "etcd2"}; !slices.Equal(members, want) {
		t.Errorf("member column %q, want %q", members, want)
	}
}
