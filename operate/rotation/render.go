package rotation

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/internal/render"
)

// tableHeader is WriteTable's header row.
var tableHeader = []string{"SOURCE", "KIND", "SUBJECT", "SANS", "NOT AFTER", "DAYS LEFT", "CHAIN", "KEY USAGE", "STATUS"}

// WriteTable writes r as one table, like etcdctl's -w table, and under it
// what to do about certificates that expire soon. Rows that are not in
// order say why in the CHAIN, KEY USAGE or STATUS column.
func WriteTable(w io.Writer, r Report) error {
	rows := make([][]string, 0, len(r.Certificates))
	for _, c := range r.Certificates {
		rows = append(rows, tableRow(c))
	}
	var b strings.Builder
	_ = render.Table{Header: tableHeader, Rows: rows}.Render(&b)
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
		fmt.Fprintf(&b, "%d root CA(s) expire within %s: etcdboot certs rotate --ca -f cluster.yaml -o out/ replaces the CA in three phases, without restarting etcd\n", roots, days(r.Threshold))
	}
	if r.CARotation != nil {
		b.WriteString(caRotationLine(*r.CARotation))
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

// WriteJSON writes r as indented JSON; Threshold is in nanoseconds.
func WriteJSON(w io.Writer, r Report) error {
	if r.Certificates == nil {
		r.Certificates = []Certificate{}
	}
	return render.JSON(w, r)
}

// Writers are the -w formats certs check offers for r.
func (r Report) Writers() render.Writers {
	return render.TableAndJSON(r, WriteTable, WriteJSON)
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
	_ = render.Table{Header: rotationHeader, Rows: rows}.Render(&b)
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
