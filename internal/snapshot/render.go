package snapshot

import (
	"fmt"
	"io"
	"strconv"

	"github.com/etcdboot/etcdboot/internal/render"
)

// tableHeader is Table's header row: etcdutl's columns, then the file's
// sha256.
var tableHeader = []string{"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE", "VERSION", "SHA256"}

// Table returns info as `etcdutl snapshot status -w table` shows it, with
// the file's sha256 as a last column.
func (info Info) Table() render.Table {
	return render.Table{Header: tableHeader, Rows: [][]string{{
		fmt.Sprintf("%x", info.Hash),
		strconv.FormatInt(info.Revision, 10),
		strconv.Itoa(info.TotalKeys),
		render.Bytes(info.TotalSize),
		info.Version,
		info.SHA256,
	}}}
}

// WriteTable writes info's Table.
func WriteTable(w io.Writer, info Info) error {
	return info.Table().Render(w)
}

// WriteJSON writes info as indented JSON with etcdutl's field names.
func WriteJSON(w io.Writer, info Info) error {
	return render.JSON(w, info)
}

// Writers are the -w formats snapshot save and status offer for info.
func (info Info) Writers() render.Writers {
	return render.TableAndJSON(info, WriteTable, WriteJSON)
}

// humanBytes is render.Bytes, for the progress line.
func humanBytes(n int64) string { return render.Bytes(n) }
