package status

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// tableHeader is WriteTable's header row.
var tableHeader = []string{
	"ENDPOINT", "HEALTH", "TOOK", "ID", "NAME", "VERSION", "DB SIZE",
	"LEADER", "LEARNER", "RAFT TERM", "RAFT INDEX", "ERROR",
}

// rightAligned marks the numeric columns of tableHeader.
var rightAligned = map[string]bool{"TOOK": true, "DB SIZE": true, "RAFT TERM": true, "RAFT INDEX": true}

// WriteTable writes the endpoints of r as one box-drawn table, the way
// etcdctl's `-w table` draws `endpoint health` and `endpoint status`. The
// status columns of an endpoint that did not answer Status stay empty.
func WriteTable(w io.Writer, r Report) error {
	rows := make([][]string, 0, len(r.Endpoints))
	for _, e := range r.Endpoints {
		rows = append(rows, tableRow(e))
	}
	if _, err := io.WriteString(w, drawBox(tableHeader, rows)); err != nil {
		return fmt.Errorf("write status table: %w", err)
	}
	return nil
}

func tableRow(e EndpointStatus) []string {
	errText := e.Error
	if len(e.Errors) > 0 {
		if errText != "" {
			errText += "; "
		}
		errText += strings.Join(e.Errors, ", ")
	}
	row := []string{e.Endpoint, strconv.FormatBool(e.Healthy), e.Took.Round(time.Microsecond).String()}
	if e.ID == "" {
		return append(row, "", "", "", "", "", "", "", "", errText)
	}
	return append(row,
		e.ID,
		e.Name,
		e.Version,
		humanBytes(e.DBSize),
		strconv.FormatBool(e.IsLeader),
		strconv.FormatBool(e.IsLearner),
		strconv.FormatUint(e.RaftTerm, 10),
		strconv.FormatUint(e.RaftIndex, 10),
		errText,
	)
}

// drawBox renders header and rows with +---+ borders.
func drawBox(header []string, rows [][]string) string {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	rule := func() {
		for _, w := range widths {
			b.WriteString("+")
			b.WriteString(strings.Repeat("-", w+2))
		}
		b.WriteString("+\n")
	}
	line := func(cells []string, align bool) {
		for i, cell := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			b.WriteString("| ")
			if align && rightAligned[header[i]] {
				b.WriteString(pad + cell)
			} else {
				b.WriteString(cell + pad)
			}
			b.WriteString(" ")
		}
		b.WriteString("|\n")
	}
	rule()
	line(header, false)
	rule()
	for _, row := range rows {
		line(row, true)
	}
	rule()
	return b.String()
}

// humanBytes formats n in SI units the way etcdctl does (go-humanize's
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

// WriteJSON writes r as indented JSON; Took is in nanoseconds.
func WriteJSON(w io.Writer, r Report) error {
	if r.Endpoints == nil {
		r.Endpoints = []EndpointStatus{}
	}
	if r.Members == nil {
		r.Members = []Member{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write status JSON: %w", err)
	}
	return nil
}
