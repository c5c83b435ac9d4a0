package status

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/internal/render"
)

// tableHeader is Table's header row.
var tableHeader = []string{
	"ENDPOINT", "HEALTH", "TOOK", "ID", "NAME", "VERSION", "STORAGE", "DB SIZE",
	"LEADER", "LEARNER", "RAFT TERM", "RAFT INDEX", "ERROR",
}

// Table returns the endpoints of r as one table, the way etcdctl's `-w
// table` shows `endpoint health` and `endpoint status`. The status columns
// of an endpoint that did not answer Status stay empty.
func (r Report) Table() render.Table {
	rows := make([][]string, 0, len(r.Endpoints))
	for _, e := range r.Endpoints {
		rows = append(rows, tableRow(e))
	}
	return render.Table{Header: tableHeader, Rows: rows}
}

// WriteTable writes r's Table and, when known, the cluster version under it.
func WriteTable(w io.Writer, r Report) error {
	if err := r.Table().Render(w); err != nil {
		return err
	}
	if r.ClusterVersion == "" {
		return nil
	}
	_, err := fmt.Fprintf(w, "cluster version %s\n", r.ClusterVersion)
	return err
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
		return append(row, "", "", "", "", "", "", "", "", "", errText)
	}
	return append(row,
		e.ID,
		e.Name,
		e.Version,
		e.StorageVersion,
		render.Bytes(e.DBSize),
		strconv.FormatBool(e.IsLeader),
		strconv.FormatBool(e.IsLearner),
		strconv.FormatUint(e.RaftTerm, 10),
		strconv.FormatUint(e.RaftIndex, 10),
		errText,
	)
}

// WriteJSON writes r as indented JSON; Took is in nanoseconds.
func WriteJSON(w io.Writer, r Report) error {
	if r.Endpoints == nil {
		r.Endpoints = []EndpointStatus{}
	}
	if r.Members == nil {
		r.Members = []Member{}
	}
	return render.JSON(w, r)
}

// Writers are the -w formats status offers for r.
func (r Report) Writers() render.Writers {
	return render.TableAndJSON(r, WriteTable, WriteJSON)
}
