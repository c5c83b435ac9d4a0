package spec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid is wrapped by every error that comes from a Report.
var ErrInvalid = errors.New("invalid")

// Problem is one thing wrong (or, with Warning, questionable) in a file.
type Problem struct {
	Pos
	// Field is the path of the field, e.g. "members[1].ips[0]".
	Field   string
	Message string
	Warning bool
}

// String formats the problem as "file:line:col: field: message".
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Pos.String())
	b.WriteString(": ")
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Report is every problem found in one file, errors and warnings.
type Report struct {
	Problems []Problem
}

// HasErrors reports whether any problem is an error rather than a warning.
func (r Report) HasErrors() bool {
	for _, p := range r.Problems {
		if !p.Warning {
			return true
		}
	}
	return false
}

// Warnings returns the warnings only.
func (r Report) Warnings() []Problem {
	var w []Problem
	for _, p := range r.Problems {
		if p.Warning {
			w = append(w, p)
		}
	}
	return w
}

// String lists every problem, one per line.
func (r Report) String() string {
	lines := make([]string, len(r.Problems))
	for i, p := range r.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Err returns nil when there is no error, else an error listing every problem.
func (r Report) Err() error {
	if !r.HasErrors() {
		return nil
	}
	n := 0
	for _, p := range r.Problems {
		if !p.Warning {
			n++
		}
	}
	noun := "problem"
	if n > 1 {
		noun = "problems"
	}
	return fmt.Errorf("%w: %d %s:\n%s", ErrInvalid, n, noun, r.String())
}

func (r *Report) sort() {
	sort.SliceStable(r.Problems, func(i, j int) bool {
		a, b := r.Problems[i], r.Problems[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}
