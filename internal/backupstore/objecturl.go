package backupstore

import (
	"fmt"
	"net/url"
)

// SplitObjectURL splits a backup's object URL, the target's URL with
// snapshots/NAME.db appended to its path (query kept), into the target and
// the backup's name.
func SplitObjectURL(s string) (target, name string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("%q is not a URL: %w", s, err)
	}
	prefix, n, ok := NameFromKey(u.Path)
	if !ok {
		return "", "", fmt.Errorf("%s names no backup object (.../snapshots/NAME.db); give the target and a name from etcdboot backup list instead", s)
	}
	u.Path, u.RawPath = prefix, ""
	return u.String(), n, nil
}
