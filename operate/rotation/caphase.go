package rotation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/internal/atomicfile"
)

// CAPhase is how far a CA rotation has gone.
type CAPhase string

// The phases of a CA rotation, in order. Each is written to out/ by
// etcdboot certs rotate --ca, delivered to every member with
// etcdboot-agent certs install, and checked before the next.
const (
	// CAPhaseNone: no rotation under way.
	CAPhaseNone CAPhase = ""
	// CAPhaseTrustBoth (a): every CA file (members, monitoring, kubeadm,
	// out/pki/ca.crt) is the bundle of the old and the new CA; the
	// certificates are still the old CA's.
	CAPhaseTrustBoth CAPhase = "trust-both"
	// CAPhaseNewLeaves (b): every certificate is reissued, with a new key,
	// by the new CA and carries the cross-certificate (the new CA signed by
	// the old) after itself; the CA files still hold both CAs.
	CAPhaseNewLeaves CAPhase = "new-leaves"
	// CAPhaseOldDropped (c): the CA files hold the new CA only; the old CA's
	// certificate and key are in the backup directory.
	CAPhaseOldDropped CAPhase = "old-dropped"
)

// Letter is the phase's letter as the README and issue name it: a, b, c.
func (p CAPhase) Letter() string {
	switch p {
	case CAPhaseTrustBoth:
		return "a"
	case CAPhaseNewLeaves:
		return "b"
	case CAPhaseOldDropped:
		return "c"
	}
	return "-"
}

// next is the phase after p; "" after the last.
func (p CAPhase) next() CAPhase {
	switch p {
	case CAPhaseNone:
		return CAPhaseTrustBoth
	case CAPhaseTrustBoth:
		return CAPhaseNewLeaves
	case CAPhaseNewLeaves:
		return CAPhaseOldDropped
	}
	return CAPhaseNone
}

// CARotationState is a CA rotation's record in out/pki/ca-rotation.json,
// from which an interrupted rotation resumes.
type CARotationState struct {
	Phase CAPhase `json:"phase"`
	// Written is false from the moment a phase starts being written to out/
	// until every file of it is; a rerun then writes the phase again.
	Written bool `json:"written"`
	// OldCA and NewCA are the SHA-256 fingerprints of the two roots.
	OldCA string `json:"oldCA"`
	NewCA string `json:"newCA"`
	// BackupDir keeps the old CA and the certificates it issued.
	BackupDir string      `json:"backupDir"`
	History   []PhaseMark `json:"history"`
}

// PhaseMark says when a phase was written.
type PhaseMark struct {
	Phase CAPhase   `json:"phase"`
	At    time.Time `json:"at"`
}

// CARotationFile is the state file's name in the PKI directory.
const CARotationFile = "ca-rotation.json"

// LoadCARotation reads the state of pkiDir's CA rotation; a missing file is
// the zero state (no rotation).
func LoadCARotation(pkiDir string) (CARotationState, error) {
	var st CARotationState
	data, err := os.ReadFile(filepath.Join(pkiDir, CARotationFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read CA rotation state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w; restore it from a backup of out/, or look at the CA files to see which phase was written", filepath.Join(pkiDir, CARotationFile), err)
	}
	return st, nil
}

// save replaces the state file atomically.
func (st CARotationState) save(pkiDir string) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(pkiDir, CARotationFile), append(data, '\n'), 0o600)
}

// Issuer classifies the CA a served certificate comes from.
type Issuer string

// Issuers of a served leaf.
const (
	IssuerOld   Issuer = "old"
	IssuerNew   Issuer = "new"
	IssuerOther Issuer = "other"
)

// EndpointTrust is what one member endpoint showed in new TLS handshakes.
// etcd reads its certificate files at every handshake but its trusted CA
// file only when it starts, so trust is observed by presenting client
// certificates and seeing which are accepted, never by reading files.
type EndpointTrust struct {
	Endpoint string `json:"endpoint"`
	// Error is set when the endpoint could not be reached at all.
	Error string `json:"error,omitempty"`
	// Served is the CA the leaf it serves verifies to.
	Served Issuer `json:"served,omitempty"`
	// AcceptsNew: a client certificate of the new CA, presented with the
	// cross-certificate, is accepted.
	AcceptsNew bool `json:"acceptsNew"`
	// AcceptsNewAlone: a client certificate of the new CA presented alone
	// is accepted, so etcd has loaded the new CA (it started after its CA
	// file held it).
	AcceptsNewAlone bool `json:"acceptsNewAlone"`
	// AcceptsOld: a client certificate of the old CA is accepted.
	AcceptsOld bool `json:"acceptsOld"`
}

// Reached reports whether the endpoint answered.
func (e EndpointTrust) Reached() bool { return e.Error == "" }

// CADecision is what DecideCA found to do next.
type CADecision struct {
	// Next is the phase to write now; "" when none may be written yet.
	Next CAPhase `json:"next,omitempty"`
	// Done: phase (c) is written and every member serves the new CA.
	Done bool `json:"done"`
	// Waiting says what keeps the next phase back, one line per endpoint.
	Waiting []string `json:"waiting,omitempty"`
	// Notes are true things worth knowing that block nothing.
	Notes []string `json:"notes,omitempty"`
}

// DecideCA is the rotation's one decision, a pure function of the recorded
// state and of what every member endpoint showed:
//   - no rotation: phase (a) once every member answers;
//   - a phase only partly written: that phase again;
//   - (a) written: (b) once every member accepts new-CA certificates;
//   - (b) written: (c) once every member serves a certificate of the new CA;
//   - (c) written: done once every member serves the new CA; members that
//     still accept the old CA's certificates (they load their CA file only
//     when they start) are noted.
func DecideCA(st CARotationState, seen []EndpointTrust) CADecision {
	var d CADecision
	if st.Phase != CAPhaseNone && !st.Written {
		d.Next = st.Phase
		d.Notes = append(d.Notes, fmt.Sprintf("phase (%s) was not completely written; writing it again", st.Phase.Letter()))
		return d
	}
	if len(seen) == 0 {
		d.Waiting = append(d.Waiting, "no member endpoint to check; give the spec's members or --endpoints")
		return d
	}
	for _, e := range seen {
		if !e.Reached() {
			d.Waiting = append(d.Waiting, fmt.Sprintf("%s: unreachable (%s); every member must answer before the next phase", e.Endpoint, e.Error))
		}
	}
	switch st.Phase {
	case CAPhaseTrustBoth:
		for _, e := range seen {
			if e.Reached() && !e.AcceptsNew {
				d.Waiting = append(d.Waiting, fmt.Sprintf("%s: refuses a certificate of the new CA presented with the cross-certificate; check its CA and that it runs etcd of this cluster", e.Endpoint))
			}
		}
	case CAPhaseNewLeaves, CAPhaseOldDropped:
		for _, e := range seen {
			if e.Reached() && e.Served != IssuerNew {
				d.Waiting = append(d.Waiting, fmt.Sprintf("%s: serves a certificate of the %s CA; run etcdboot-agent certs install with its out/nodes/NAME/user-data", e.Endpoint, e.Served))
			}
		}
	}
	if len(d.Waiting) > 0 {
		return d
	}
	if st.Phase == CAPhaseOldDropped {
		d.Done = true
		var old []string
		for _, e := range seen {
			if e.AcceptsOld {
				old = append(old, e.Endpoint)
			}
		}
		if len(old) > 0 {
			d.Notes = append(d.Notes, fmt.Sprintf("%s still accept certificates of the old CA: etcd loaded its CA file when it started, and drops the old CA at its next start; the certificates carry the cross-certificate until then", strings.Join(old, ", ")))
		}
		return d
	}
	d.Next = st.Phase.next()
	return d
}
