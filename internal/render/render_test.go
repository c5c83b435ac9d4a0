package render

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestTableLooksLikeEtcdctl(t *testing.T) {
	tbl := Table{
		Header: []string{"ID", "STATUS", "NAME", "PEER ADDRS"},
		Rows: [][]string{
			{"8e9e05c52164694d", "started", "etcd1", "https://10.0.0.1:2380"},
			{"2a1b", "unstarted", "", "https://10.0.0.22:2380"},
		},
	}
	// What etcdctl member list -w table prints for these members.
	want := `+------------------+-----------+-------+------------------------+
|        ID        |  STATUS   | NAME  |       PEER ADDRS       |
+------------------+-----------+-------+------------------------+
| 8e9e05c52164694d |   started | etcd1 |  https://10.0.0.1:2380 |
|             2a1b | unstarted |       | https://10.0.0.22:2380 |
+------------------+-----------+-------+------------------------+
`
	if got := tbl.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestTableKeepsLongCellsOnOneLine(t *testing.T) {
	long := "status: no answer within 5s: dial tcp 192.168.2.52:2379: connect: connection refused"
	got := Table{Header: []string{"ENDPOINT", "ERROR"}, Rows: [][]string{{"https://192.168.2.52:2379", long}}}.String()
	if lines := strings.Count(got, "\n"); lines != 5 {
		t.Errorf("%d lines, want 5 (rule, header, rule, row, rule):\n%s", lines, got)
	}
	if !strings.Contains(got, "| "+long+" |") {
		t.Errorf("long cell wrapped or cut:\n%s", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderReportsWriteErrors(t *testing.T) {
	err := Table{Header: []string{"A"}}.Render(failingWriter{})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Render = %v, want the write error", err)
	}
}

func TestWriteEncodesTheValueOrDrawsTheTable(t *testing.T) {
	type row struct {
		Name string `json:"name" yaml:"name"`
	}
	v := []row{{"etcd1"}}
	tbl := Table{Header: []string{"NAME"}, Rows: [][]string{{"etcd1"}}}
	for _, tc := range []struct {
		format Format
		want   string
	}{
		{FormatTable, tbl.String()},
		{FormatJSON, "[\n  {\n    \"name\": \"etcd1\"\n  }\n]\n"},
		{FormatYAML, "- name: etcd1\n"},
	} {
		var b bytes.Buffer
		if err := Write(&b, tc.format, tbl, v); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if b.String() != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.format, b.String(), tc.want)
		}
	}
	if err := Write(io.Discard, FormatText, tbl, v); err == nil || err.Error() != `-w "text": use table, json or yaml` {
		t.Errorf("text: %v", err)
	}
}

func TestFlagAcceptsOnlyOfferedFormats(t *testing.T) {
	f := NewFlag(FormatTable, FormatJSON)
	if f.String() != "table" || f.Usage() != "output format: table or json" || f.Type() != "string" {
		t.Errorf("new flag: %q, %q, %q", f.String(), f.Usage(), f.Type())
	}
	if err := f.Set("yaml"); err == nil || err.Error() != "use table or json" {
		t.Errorf("Set(yaml) = %v", err)
	}
	if err := f.Set("json"); err != nil || f.Format != FormatJSON {
		t.Errorf("Set(json) = %v, format %s", err, f.Format)
	}
	if got := NewFlag(FormatText, FormatJSON, FormatTable).Usage(); got != "output format: table, text or json" {
		t.Errorf("usage %q", got)
	}
}

func TestWritersNameTheFormatsOnOffer(t *testing.T) {
	ws := Writers{FormatJSON: func(io.Writer) error { return nil }, FormatTable: func(io.Writer) error { return nil }}
	if err := ws.Write(io.Discard, "xml"); err == nil || err.Error() != `-w "xml": use table or json` {
		t.Errorf("Write(xml) = %v", err)
	}
}

func TestBytesMatchesEtcdctl(t *testing.T) {
	// etcdctl prints sizes with go-humanize's Bytes; these are its outputs.
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{9, "9 B"},
		{10, "10 B"},
		{999, "999 B"},
		{1000, "1.0 kB"},
		{16384, "16 kB"},
		{20480, "20 kB"},
		{24576, "25 kB"},
		{999_999, "1000 kB"},
		{2_100_000, "2.1 MB"},
		{2_101_248, "2.1 MB"},
		{2_147_483_648, "2.1 GB"},
		{8_589_934_592, "8.6 GB"},
	}
	for _, tt := range tests {
		if got := Bytes(tt.n); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestTableAndJSONWriteTheResult(t *testing.T) {
	table := func(w io.Writer, n int) error {
		return Table{Header: []string{"N"}, Rows: [][]string{{strconv.Itoa(n)}}}.Render(w)
	}
	json := func(w io.Writer, n int) error { return JSON(w, n) }
	ws := TableAndJSON(42, table, json)
	var b bytes.Buffer
	if err := ws.Write(&b, FormatJSON); err != nil || b.String() != "42\n" {
		t.Errorf("json: %v, %q", err, b.String())
	}
	b.Reset()
	if err := ws.Write(&b, FormatTable); err != nil || !strings.Contains(b.String(), "| 42 |") {
		t.Errorf("table: %v, %q", err, b.String())
	}
}
