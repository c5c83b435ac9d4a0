package upgrade

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is an etcd release, e.g. 3.6.16. The zero Version is unknown.
type Version struct {
	Major, Minor, Patch int
}

// ParseVersion reads "3.6.16", "v3.6.16" or "3.6" (a cluster version, whose
// patch is 0); pre-release suffixes ("3.7.0-alpha.0") are ignored.
func ParseVersion(s string) (Version, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(t, "-+"); i >= 0 {
		t = t[:i]
	}
	parts := strings.Split(t, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("%q is not an etcd version such as 3.6.16", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Version{}, fmt.Errorf("%q is not an etcd version such as 3.6.16", s)
		}
		n[i] = v
	}
	return Version{n[0], n[1], n[2]}, nil
}

// MustParse is ParseVersion for constants; it panics on a malformed one.
func MustParse(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// IsZero reports whether v is unknown.
func (v Version) IsZero() bool { return v == Version{} }

// String returns "3.6.16".
func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// MinorString returns "3.6".
func (v Version) MinorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Compare orders versions: -1, 0 or +1.
func (v Version) Compare(w Version) int {
	for _, d := range [3]int{v.Major - w.Major, v.Minor - w.Minor, v.Patch - w.Patch} {
		switch {
		case d < 0:
			return -1
		case d > 0:
			return 1
		}
	}
	return 0
}

// minorsAbove is how many minor versions v is ahead of w (negative: behind).
// etcd 3 is the only major version etcdboot runs.
func (v Version) minorsAbove(w Version) int { return v.Minor - w.Minor }
