package rotation

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/internal/render"
	"github.com/etcdboot/etcdboot/pki"
)

// caSeenHeader is the header of the table of what each member showed.
var caSeenHeader = []string{"ENDPOINT", "SERVES", "ACCEPTS OLD", "ACCEPTS NEW (+CROSS)", "ACCEPTS NEW ALONE", "ERROR"}

// WriteCARotation writes what RotateCA saw, wrote and what to do next.
func WriteCARotation(w io.Writer, res *CARotateResult) error {
	var b strings.Builder
	if len(res.Seen) > 0 {
		rows := make([][]string, 0, len(res.Seen))
		for _, e := range res.Seen {
			acceptsNew, acceptsNewAlone := strconv.FormatBool(e.AcceptsNew), strconv.FormatBool(e.AcceptsNewAlone)
			if res.Before.Phase == CAPhaseNone {
				// There is no new CA to probe with yet.
				acceptsNew, acceptsNewAlone = "-", "-"
			}
			rows = append(rows, []string{e.Endpoint, string(e.Served), strconv.FormatBool(e.AcceptsOld), acceptsNew, acceptsNewAlone, e.Error})
		}
		_ = render.Table{Header: caSeenHeader, Rows: rows}.Render(&b)
	}
	for _, n := range res.Decision.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	switch {
	case res.Wrote != CAPhaseNone && res.Group:
		fmt.Fprintf(&b, "Phase (%s) %s written to out/: %s\n", res.Wrote.Letter(), res.Wrote, phaseSays(res.Wrote))
		fmt.Fprintf(&b, "Published to the group at %s (revision %d): each member's watcher checks it and installs it before its\n"+
			"next renewal (etcdboot-agent --renew-interval), no restart. Put out/nodes/launch in the launch template, copy\n"+
			"monitoring/tls/ and kubeadm/pki/ to Prometheus and the API servers, then run etcdboot certs rotate --ca again:\n"+
			"it checks every member before it writes the next phase.\n", pki.PublishedCAKey, res.Published)
	case res.Wrote != CAPhaseNone:
		fmt.Fprintf(&b, "Phase (%s) %s written to out/: %s\n", res.Wrote.Letter(), res.Wrote, phaseSays(res.Wrote))
		b.WriteString("Copy each member its nodes/NAME/user-data and run `etcdboot-agent certs install --user-data FILE`\n" +
			"there (no restart), copy monitoring/tls/ and kubeadm/pki/ to Prometheus and the API servers, then run\n" +
			"etcdboot certs rotate --ca again: it checks every member before it writes the next phase.\n")
	case res.Decision.Done:
		fmt.Fprintf(&b, "CA rotation complete: every member serves the new CA's certificates and every CA file holds the new CA only. The old CA is kept in %s.\n", res.After.BackupDir)
	default:
		fmt.Fprintf(&b, "Phase (%s) %s is out; not yet:\n", res.Before.Phase.Letter(), res.Before.Phase)
		for _, why := range res.Decision.Waiting {
			fmt.Fprintf(&b, "  %s\n", why)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write CA rotation summary: %w", err)
	}
	return nil
}

// phaseSays is what a phase changed.
func phaseSays(p CAPhase) string {
	switch p {
	case CAPhaseTrustBoth:
		return "every CA file is the bundle of the old and the new CA; the certificates are unchanged"
	case CAPhaseNewLeaves:
		return "every certificate is reissued by the new CA with a new key and carries the cross-certificate; the CA files still hold both CAs"
	case CAPhaseOldDropped:
		return "every CA file holds the new CA only"
	}
	return ""
}

// caRotationLine is the line certs check prints under its table while a CA
// rotation is under way.
func caRotationLine(st CARotationState) string {
	at := ""
	if n := len(st.History); n > 0 {
		at = " since " + st.History[n-1].At.Format(time.RFC3339)
	}
	written := ""
	if !st.Written {
		written = " (not completely written: run etcdboot certs rotate --ca again)"
	}
	return fmt.Sprintf("CA rotation: phase (%s) %s%s%s; etcdboot certs rotate --ca -f cluster.yaml -o out/ checks the members and writes the next\n",
		st.Phase.Letter(), st.Phase, at, written)
}
