package backup

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// timeLayout names snapshots by when they were taken, in UTC with
// milliseconds, so that names sort as times do.
const timeLayout = "20060102T150405.000Z"

// Name is the file name of the snapshot of cluster taken at t:
// "<cluster>-20240131T235959.123Z.db".
func Name(cluster string, t time.Time) string {
	return cluster + "-" + t.UTC().Format(timeLayout) + ".db"
}

var stampRe = regexp.MustCompile(`^\d{8}T\d{6}\.\d{3}Z$`)

// ParseName returns when the snapshot file name of cluster was taken; ok is
// false for any name Name does not make, which pruning never touches.
func ParseName(cluster, name string) (t time.Time, ok bool) {
	stamp, found := strings.CutPrefix(name, cluster+"-")
	if !found {
		return time.Time{}, false
	}
	if stamp, found = strings.CutSuffix(stamp, ".db"); !found || !stampRe.MatchString(stamp) {
		return time.Time{}, false
	}
	t, err := time.Parse(timeLayout, stamp)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// Prune returns the snapshot files among names (a directory's entries) that
// retention does not keep: of those named by Name for cluster, all but the
// keep newest, oldest first. Other files are never returned. Pure.
func Prune(cluster string, names []string, keep int) []string {
	type snap struct {
		name string
		at   time.Time
	}
	var snaps []snap
	for _, n := range names {
		if at, ok := ParseName(cluster, n); ok {
			snaps = append(snaps, snap{n, at})
		}
	}
	slices.SortFunc(snaps, func(a, b snap) int { return a.at.Compare(b.at) })
	if keep < 0 {
		keep = 0
	}
	var out []string
	for i := 0; i < len(snaps)-keep; i++ {
		out = append(out, snaps[i].name)
	}
	return out
}

// Newest returns the newest snapshot of cluster among names, or "".
func Newest(cluster string, names []string) string {
	var best string
	var bestAt time.Time
	for _, n := range names {
		if at, ok := ParseName(cluster, n); ok && (best == "" || at.After(bestAt)) {
			best, bestAt = n, at
		}
	}
	return best
}
