package rotation

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// tableHeader is WriteTable's header row.
var tableHeader = []string{"SOURCE", "KIND", "SUBJECT", "SANS", "NOT AFTER", "DAYS LEFT", "CHAIN", "KEY USAGE", "STATUS"}

// WriteTable writes r as one box-drawn table, like etcdctl's -w table. Rows
// that are not in order say why in the CHAIN, KEY USAGE or STATUS column.
func WriteTable(w io.Writer, r Report) error {
	rows := make([][]string, 0, len(r.Certificates))
	for _, c := range r.Certificates {
		rows = append(rows, tableRow(c))
	}
	var b strings.Builder
	b.WriteString(drawBox(tableHeader, rows))
	var roots, below int
	for _, c := range r.Expiring() {
		if c.Kind == KindCA {
			roots++
		} else {
			below++
		}
	}
	if below > 0 {
		fmt.Fprintf(&b, "%d certificate(s) expire within %s: etcdboot certs rotate -f cluster.yaml -o out/\n", below, days(r.Threshold))
	}
	if roots > 0 {
		fmt.Fprintf(&b, "%d root CA(s) expire within %s: etcdboot generate --rotate replaces the CA and every certificate; all members need the new payloads\n", roots, days(r.Threshold))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write certificate table: %w", err)
	}
	return nil
}

func tableRow(c Certificate) []string {
	source := c.Source
	if c.Position > 0 {
		source += "#" + strconv.Itoa(c.Position+1)
	}
	if c.Error != "" {
		return []string{source, "", "", "", "", "", "", "", StatusError + ": " + c.Error}
	}
	ok := func(good bool, why string) string {
		if good {
			return "ok"
		}
		return why
	}
	return []string{
		source,
		c.Kind,
		c.Subject,
		strings.Join(c.SANs, ","),
		c.NotAfter.Format(time.RFC3339),
		strconv.Itoa(c.DaysLeft),
		ok(c.ChainOK, c.ChainError),
		ok(c.KeyUsageOK, c.KeyUsageError),
		c.Status(),
	}
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + " days"
	}
	return d.String()
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
			b.WriteString("+" + strings.Repeat("-", w+2))
		}
		b.WriteString("+\n")
	}
	line := func(cells []string) {
		for i, cell := range cells {
			b.WriteString("| " + cell + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell)) + " ")
		}
		b.WriteString("|\n")
	}
	rule()
	line(header)
	rule()
	for _, row := range rows {
		line(row)
	}
	rule()
	return b.String()
}

// WriteJSON writes r as indented JSON; Threshold is in nanoseconds.
func WriteJSON(w io.Writer, r Report) error {
	if r.Certificates == nil {
		r.Certificates = []Certificate{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write certificate JSON: %w", err)
	}
	return nil
}

// rotationHeader is WriteRotation's header row.
var rotationHeader = []string{"CERTIFICATE", "OLD SERIAL", "NEW SERIAL", "NOT AFTER"}

// WriteRotation writes what Rotate did and what is left to do.
func WriteRotation(w io.Writer, res *RotateResult) error {
	rows := make([][]string, 0, len(res.Rotated))
	for _, r := range res.Rotated {
		rows = append(rows, []string{r.Name, r.OldSerial, r.NewSerial, r.NotAfter.Format(time.RFC3339)})
	}
	var b strings.Builder
	b.WriteString(drawBox(rotationHeader, rows))
	fmt.Fprintf(&b, "%d certificates reissued with new keys under the same CA; the previous files are in %s.\n", len(res.Rotated), res.BackupDir)
	if len(res.Kept) > 0 {
		fmt.Fprintf(&b, "Kept as they were (not issued by etcdboot generate): %s.\n", strings.Join(res.Kept, ", "))
	}
	b.WriteString("The node payloads under nodes/ now carry the new certificates: copy each member its\n" +
		"nodes/NAME/user-data and run `etcdboot-agent certs install --user-data FILE` there (etcd reads\n" +
		"its certificate files again for every new connection: no restart), then delete the backup.\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write rotation summary: %w", err)
	}
	return nil
}
