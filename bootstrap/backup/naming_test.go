package backup

import (
	"slices"
	"testing"
	"time"
)

func TestNameSortsAsTimeAndParsesBack(t *testing.T) {
	at := time.Date(2024, 1, 31, 23, 59, 59, 123_000_000, time.FixedZone("CET", 3600))
	name := Name("prod", at)
	if name != "prod-20240131T225959.123Z.db" {
		t.Fatalf("Name = %q", name)
	}
	got, ok := ParseName("prod", name)
	if !ok || !got.Equal(at) {
		t.Fatalf("ParseName(%q) = %v, %v; want %v", name, got, ok, at)
	}
	for _, foreign := range []string{
		"prod-20240131T225959.123Z.db.sha256",  // its checksum file
		"prod-2-20240131T225959.123Z.db",       // cluster "prod-2"'s
		".prod-20240131T225959.123Z.db.part-1", // a save in progress
		"prod-20240131T225959Z.db", "prod-latest.db", "prod-20241331T225959.123Z.db", "notes.txt",
	} {
		if _, ok := ParseName("prod", foreign); ok {
			t.Errorf("ParseName took %q for a snapshot of prod", foreign)
		}
	}
}

func TestPruneKeepsTheNewestAndTouchesOnlyOurSnapshots(t *testing.T) {
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	var names []string
	for _, h := range []int{3, 0, 4, 1, 2} { // directory order is not time order
		n := Name("c", base.Add(time.Duration(h)*time.Hour))
		names = append(names, n, n+".sha256")
	}
	names = append(names, "c-manual.db", "other-20240501T000000.000Z.db", "README")
	tests := []struct {
		keep int
		want []int // hours removed, oldest first
	}{
		{5, nil}, {7, nil}, {3, []int{0, 1}}, {1, []int{0, 1, 2, 3}}, {0, []int{0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		var want []string
		for _, h := range tt.want {
			want = append(want, Name("c", base.Add(time.Duration(h)*time.Hour)))
		}
		if got := Prune("c", names, tt.keep); !slices.Equal(got, want) {
			t.Errorf("keep %d: Prune = %q, want %q", tt.keep, got, want)
		}
	}
	if got := Newest("c", names); got != Name("c", base.Add(4*time.Hour)) {
		t.Errorf("Newest = %q", got)
	}
	if got := Newest("c", []string{"README"}); got != "" {
		t.Errorf("Newest without snapshots = %q", got)
	}
}
