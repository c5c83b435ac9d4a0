package snapshot

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// tableHeader is WriteTable's header row: etcdutl's columns, then the
// file's sha256.
var tableHeader = []string{"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE", "VERSION", "SHA256"}

// WriteTable writes info as one box-drawn table, the way `etcdutl snapshot
// status -w table` draws it, with the file's sha256 as a last column.
func WriteTable(w io.Writer, info Info) error {
	row := []string{
		fmt.Sprintf("%x", info.Hash),
		strconv.FormatInt(info.Revision, 10),
		strconv.Itoa(info.TotalKeys),
		humanBytes(info.TotalSize),
		info.Version,
		info.SHA256,
	}
	widths := make([]int, len(tableHeader))
	for i := range tableHeader {
		widths[i] = max(len(tableHeader[i]), len(row[i]))
	}
	var b strings.Builder
	rule := func() {
		for _, n := range widths {
			b.WriteString("+" + strings.Repeat("-", n+2))
		}
		b.WriteString("+\n")
	}
	line := func(cells []string, header bool) {
		for i, c := range cells {
			// etcdutl centres the header and right-aligns the cells.
			pad := widths[i] - len(c)
			if header {
				c = strings.Repeat(" ", pad/2) + c + strings.Repeat(" ", pad-pad/2)
			} else {
				c = strings.Repeat(" ", pad) + c
			}
			b.WriteString("| " + c + " ")
		}
		b.WriteString("|\n")
	}
	rule()
	line(tableHeader, true)
	rule()
	line(row, false)
	rule()
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write snapshot status table: %w", err)
	}
	return nil
}

// WriteJSON writes info as indented JSON with etcdutl's field names.
func WriteJSON(w io.Writer, info Info) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(info); err != nil {
		return fmt.Errorf("write snapshot status JSON: %w", err)
	}
	return nil
}

// humanBytes formats n in SI units the way etcdutl does (go-humanize's
// Bytes): "20 kB", "2.1 MB", "512 B".
func humanBytes(n int64) string {
	if n < 10 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	e := math.Floor(math.Log(float64(n)) / math.Log(1000))
	val := math.Floor(float64(n)/math.Pow(1000, e)*10+0.5) / 10
	format := "%.0f %s"
	if val < 10 {
		format = "%.1f %s"
	}
	return fmt.Sprintf(format, val, units[int(e)])
}
