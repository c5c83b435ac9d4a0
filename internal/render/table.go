package render

import (
	"bytes"
	"fmt"
	"io"

	"github.com/olekukonko/tablewriter"
)

// Table is rows of cells under a header, drawn the way etcdctl's -w table
// draws them: +---+ borders, the header centred, the cells right-aligned.
// Unlike etcdctl, long cells are not wrapped: one row stays one line, for
// grep and awk.
type Table struct {
	Header []string
	Rows   [][]string
}

// Render draws t to w.
func (t Table) Render(w io.Writer) error {
	var b bytes.Buffer
	tw := tablewriter.NewWriter(&b)
	tw.SetHeader(t.Header)
	tw.SetAutoWrapText(false)
	tw.SetAlignment(tablewriter.ALIGN_RIGHT)
	tw.AppendBulk(t.Rows)
	tw.Render()
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// String returns t as Render draws it.
func (t Table) String() string {
	var b bytes.Buffer
	_ = t.Render(&b)
	return b.String()
}
