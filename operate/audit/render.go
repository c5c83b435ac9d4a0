package audit

import (
	"fmt"
	"io"
	"strings"

	"github.com/etcdboot/etcdboot/internal/render"
)

// WriteText writes r the way kube-bench reports a section: one
// "[PASS] 2.1 title: detail" line per item and member, a remediation line
// under every FAIL and WARN, and a summary.
func WriteText(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "CIS Kubernetes Benchmark, section 2 (etcd), for etcd cluster %s\n", r.Cluster)
	for _, m := range r.Members {
		fmt.Fprintf(&b, "\n== member %s: %s, as etcdboot-agent writes it ==\n", m.Member, m.Config)
		for _, f := range m.Findings {
			writeFinding(&b, f)
		}
	}
	b.WriteString("\n== cluster CA ==\n")
	writeFinding(&b, r.CA)
	n := r.Counts()
	fmt.Fprintf(&b, "\n== summary: %d checks PASS, %d checks FAIL, %d checks WARN ==\n", n[Pass], n[Fail], n[Warn])
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write audit: %w", err)
	}
	return nil
}

func writeFinding(b *strings.Builder, f Finding) {
	b.WriteString(f.String() + "\n")
	if f.Status != Pass {
		b.WriteString("       remediation: " + f.Remediation + "\n")
	}
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	return render.JSON(w, r)
}

// Writers are the -w formats audit offers for r; table is text, which is
// kube-bench's layout rather than a grid.
func (r Report) Writers() render.Writers {
	text := func(w io.Writer) error { return WriteText(w, r) }
	return render.Writers{
		render.FormatText:  text,
		render.FormatTable: text,
		render.FormatJSON:  func(w io.Writer) error { return WriteJSON(w, r) },
	}
}
