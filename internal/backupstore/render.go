package backupstore

import (
	"io"
	"strconv"
	"time"

	"github.com/etcdboot/etcdboot/internal/render"
)

// listHeader is the columns of `etcdboot backup list -w table`.
var listHeader = []string{"NAME", "TAKEN", "REVISION", "KEYS", "SIZE", "ETCD", "VERIFIED", "MEMBER"}

// Table returns the listing's backups, newest first, one a row.
func (l Listing) Table() render.Table {
	t := render.Table{Header: listHeader}
	for _, m := range l.Backups {
		verified := "no"
		switch {
		case m.TestRestored:
			verified = "restored"
		case m.Verified:
			verified = "yes"
		}
		member := m.Member
		if m.Source != "" {
			member += " (" + m.Source + ")"
		}
		t.Rows = append(t.Rows, []string{m.Name, m.Taken.UTC().Format(time.RFC3339), strconv.FormatInt(m.Revision, 10),
			strconv.Itoa(m.TotalKeys), render.Bytes(m.Size), m.EtcdVersion, verified, member})
	}
	return t
}

// Writers are the -w formats of `etcdboot backup list`: the table, with a
// line per problem under it, or the listing as JSON.
func (l Listing) Writers() render.Writers {
	return render.TableAndJSON(l, func(w io.Writer, l Listing) error {
		if err := l.Table().Render(w); err != nil {
			return err
		}
		for _, p := range l.Problems {
			if _, err := io.WriteString(w, "not a backup: "+p.Key+": "+p.What+"\n"); err != nil {
				return err
			}
		}
		return nil
	}, func(w io.Writer, l Listing) error { return render.JSON(w, l) })
}
