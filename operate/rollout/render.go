package rollout

import (
	"fmt"
	"io"
	"strconv"

	"github.com/etcdboot/etcdboot/internal/render"
)

// Table is the plan's steps as etcdctl draws tables.
func (p Plan) Table() render.Table {
	t := render.Table{Header: []string{"STEP", "MEMBER", "FROM", "TO", "ACTION", "NOTE"}}
	for i, s := range p.Steps {
		t.Rows = append(t.Rows, []string{strconv.Itoa(i + 1), s.Member, s.From, s.To, s.Action, s.Note})
	}
	return t
}

// WriteText prints the plan for a person: the cluster version, the steps
// and what to do, or why the roll cannot be taken.
func (p Plan) WriteText(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "cluster version %s, target %s\n", orDash(p.ClusterVersion), p.Target); err != nil {
		return err
	}
	if p.Refused != "" {
		_, err := fmt.Fprintf(w, "refused: %s\n", p.Refused)
		return err
	}
	if err := p.Table().Render(w); err != nil {
		return err
	}
	if p.Waits != "" {
		if _, err := fmt.Fprintf(w, "first wait: %s\n", p.Waits); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "roll an image with etcd %s onto the members in this order, one at a time; each agent takes the cluster-wide lock, waits for the gate and passes the health gate before the next\n", p.Target)
	return err
}

// Writers offers the plan as a table with its notes, or as JSON.
func (p Plan) Writers() render.Writers {
	return render.Writers{
		render.FormatTable: p.WriteText,
		render.FormatJSON:  func(w io.Writer) error { return render.JSON(w, p) },
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
