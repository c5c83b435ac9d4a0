package render

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Format is a -w/--write-out value.
type Format string

// The formats a command may offer.
const (
	FormatTable Format = "table"
	FormatText  Format = "text"
	FormatJSON  Format = "json"
	FormatYAML  Format = "yaml"
)

// order is the order in which formats are listed to the user.
var order = []Format{FormatTable, FormatText, FormatJSON, FormatYAML}

// Flag is a -w/--write-out flag value (a pflag.Value) that accepts only the
// formats it offers, so a wrong -w fails before the command does any work.
type Flag struct {
	// Format is the format chosen, the first offered one by default.
	Format  Format
	offered []Format
}

// NewFlag returns a flag value offering formats; the first is the default.
func NewFlag(formats ...Format) *Flag {
	return &Flag{Format: formats[0], offered: formats}
}

// Set accepts s when it is an offered format.
func (f *Flag) Set(s string) error {
	if !slices.Contains(f.offered, Format(s)) {
		return fmt.Errorf("use %s", list(f.offered))
	}
	f.Format = Format(s)
	return nil
}

// String returns the format chosen.
func (f *Flag) String() string { return string(f.Format) }

// Type is "string", so that help shows the flag as it shows string flags.
func (f *Flag) Type() string { return "string" }

// Usage is the flag's help text: "output format: table or json".
func (f *Flag) Usage() string { return "output format: " + list(f.offered) }

// Writers maps each format a command offers to the function that prints its
// result that way.
type Writers map[Format]func(io.Writer) error

// Write prints with the function for format.
func (ws Writers) Write(w io.Writer, format Format) error {
	write, ok := ws[format]
	if !ok {
		offered := make([]Format, 0, len(ws))
		for f := range ws {
			offered = append(offered, f)
		}
		return fmt.Errorf("-w %q: use %s", format, list(offered))
	}
	return write(w)
}

// Write prints a list of rows: t for table, v encoded for json and yaml. v
// is what the rows show, as the JSON and YAML readers should get it.
func Write(w io.Writer, format Format, t Table, v any) error {
	return Writers{
		FormatTable: t.Render,
		FormatJSON:  func(w io.Writer) error { return JSON(w, v) },
		FormatYAML:  func(w io.Writer) error { return YAML(w, v) },
	}.Write(w, format)
}

// list names formats in the usual order: "table, json or yaml".
func list(formats []Format) string {
	var names []string
	for _, f := range order {
		if slices.Contains(formats, f) {
			names = append(names, string(f))
		}
	}
	for _, f := range formats {
		if !slices.Contains(order, f) {
			names = append(names, string(f))
		}
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// TableAndJSON are the writers of a result v that prints as a table or as
// JSON, with the package's own functions for each.
func TableAndJSON[T any](v T, table, json func(io.Writer, T) error) Writers {
	return Writers{
		FormatTable: func(w io.Writer) error { return table(w, v) },
		FormatJSON:  func(w io.Writer) error { return json(w, v) },
	}
}
