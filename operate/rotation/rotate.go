package rotation

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// RotateOptions say which generator output to rotate.
type RotateOptions struct {
	// SpecPath is the cluster spec the output was generated from.
	SpecPath string
	// OutDir is the generator's output directory (its pki/ is rotated).
	OutDir string
	// Remaps are the --remap options the output was generated with; without
	// them the payloads would be rewritten with the spec's own addresses.
	Remaps []generate.Remap
	Logger *slog.Logger
	// Now names the directory the old files are kept in; defaults to time.Now.
	Now func() time.Time
}

// LiveOptions are RotateOptions for the rotations that also ask the
// running members: the CA's phases (each checked by new TLS handshakes
// before the next is written) and the issuer's publication to the group.
type LiveOptions struct {
	RotateOptions
	// Endpoints are the members' client URLs; default the spec's (a
	// group's seeds).
	Endpoints []string
	// Timeout bounds each handshake of a CA rotation (default
	// DefaultTimeout) or the issuer's publication (default a minute).
	Timeout time.Duration
}

// Rotation is one reissued certificate.
type Rotation struct {
	// Name is the certificate's base name in out/pki (etcd1-server, admin).
	Name      string    `json:"name"`
	OldSerial string    `json:"oldSerial"`
	NewSerial string    `json:"newSerial"`
	NotAfter  time.Time `json:"notAfter"`
}

// RotateResult is what Rotate did.
type RotateResult struct {
	Rotated []Rotation `json:"rotated"`
	// Kept are certificates below the CA that the generator does not issue
	// (etcdboot serve's serve.crt, a removed member's): left as they were.
	Kept []string `json:"kept,omitempty"`
	// BackupDir holds the previous certificates and keys; delete it once
	// the new ones are deployed.
	BackupDir string `json:"backupDir"`
	// Generate is the generator run that reissued them and rewrote the
	// payloads.
	Generate *generate.Result `json:"-"`
}

// ErrNoCA is wrapped by Rotate's error when the output has no CA to keep.
var ErrNoCA = errors.New("no CA to keep")

// Rotate reissues every certificate below the root CA of a generator output
// directory: members' server and peer certificates, the client certificates
// and an autoscaling group's intermediate, each with a new key, then
// rewrites every payload (and the monitoring and kubeadm copies) with them.
// The root CA and its key stay, so members that still hold the old
// certificates keep trusting the new ones during the rollout.
//
// New keys rather than the old ones: rotation answers expiry and suspected
// compromise alike, and a certificate is only ever deployed with its key (in
// the same payload), so no one depends on a key outliving its certificate.
//
// The previous files are moved to pki/rotated-<time>/, never deleted; if the
// generator fails they are moved back, so a failed rotation changes nothing.
func Rotate(opts RotateOptions) (*RotateResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// A broken spec fails here, before any file moves.
	if _, _, err := spec.LoadCluster(opts.SpecPath); err != nil {
		return nil, fmt.Errorf("rotate certificates: %w", err)
	}
	dir := pki.Dir{Path: filepath.Join(opts.OutDir, "pki")}
	caBefore, err := os.ReadFile(dir.CertPath("ca"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("rotate certificates: %s: %w; run etcdboot generate first", dir.CertPath("ca"), ErrNoCA)
	}
	if err != nil {
		return nil, fmt.Errorf("rotate certificates: %w", err)
	}
	leaves, err := issuedBelowRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("rotate certificates: %w", err)
	}
	if len(leaves) == 0 {
		return nil, fmt.Errorf("rotate certificates: %s holds no certificate below the CA; run etcdboot generate first", dir.Path)
	}
	res := &RotateResult{BackupDir: filepath.Join(dir.Path, "rotated-"+opts.Now().UTC().Format("20060102T150405Z"))}
	if err := os.Mkdir(res.BackupDir, 0o700); err != nil {
		return nil, fmt.Errorf("rotate certificates: keep the previous files: %w", err)
	}
	moved := &movedFiles{}
	for _, l := range leaves {
		if err := moved.move(dir, l.name, res.BackupDir); err != nil {
			return nil, errors.Join(fmt.Errorf("rotate certificates: %w", err), moved.restore())
		}
	}

	gen, err := generate.Run(generate.Options{SpecPath: opts.SpecPath, OutDir: opts.OutDir, Remaps: opts.Remaps, Logger: opts.Logger})
	if err != nil {
		if rerr := moved.restore(); rerr != nil {
			return nil, fmt.Errorf("rotate certificates: %w; restoring the previous certificates from %s failed too: %v", err, res.BackupDir, rerr)
		}
		return nil, fmt.Errorf("rotate certificates: %w; the previous certificates are restored, the payloads may need etcdboot generate", err)
	}
	res.Generate = gen

	caAfter, err := os.ReadFile(dir.CertPath("ca"))
	if err != nil || !bytes.Equal(caBefore, caAfter) {
		return res, fmt.Errorf("rotate certificates: %s changed during rotation (%v); members will not trust each other until every one has the new payload", dir.CertPath("ca"), err)
	}
	for _, l := range leaves {
		rot, issued, err := reissued(dir, l, caAfter)
		if err != nil {
			return res, fmt.Errorf("rotate certificates: %w", err)
		}
		if !issued {
			// The generator does not make this one: put it back as it was.
			if err := moved.restoreName(l.name); err != nil {
				return res, fmt.Errorf("rotate certificates: %w", err)
			}
			res.Kept = append(res.Kept, l.name)
			continue
		}
		res.Rotated = append(res.Rotated, rot)
	}
	return res, nil
}

// leafFiles is one <name>.crt and .key pair below the root CA.
type leafFiles struct {
	name   string
	serial string
}

// issuedBelowRoot lists the <name>.crt/.key pairs of dir that are not a
// self-signed root, sorted by name.
func issuedBelowRoot(dir pki.Dir) ([]leafFiles, error) {
	files, err := certFiles(dir.Path)
	if err != nil {
		return nil, err
	}
	var out []leafFiles
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".crt")
		if _, err := os.Stat(dir.KeyPath(name)); err != nil {
			continue
		}
		certs, err := pki.ReadCertificates(f)
		if err != nil {
			return nil, fmt.Errorf("%w; delete it or restore it before rotating", err)
		}
		if isSelfSigned(certs[0]) {
			continue
		}
		out = append(out, leafFiles{name: name, serial: serialHex(certs[0].SerialNumber)})
	}
	slices.SortFunc(out, func(a, b leafFiles) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// reissued checks the new <name>.crt: a new serial, verifying to the CA.
// issued is false when the generator did not write one.
func reissued(dir pki.Dir, l leafFiles, caPEM []byte) (Rotation, bool, error) {
	data, err := os.ReadFile(dir.CertPath(l.name))
	if errors.Is(err, fs.ErrNotExist) {
		return Rotation{}, false, nil
	}
	if err != nil {
		return Rotation{}, false, fmt.Errorf("read reissued %s: %w", dir.CertPath(l.name), err)
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return Rotation{}, false, fmt.Errorf("reissued %s: %w", dir.CertPath(l.name), err)
	}
	rot := Rotation{Name: l.name, OldSerial: l.serial, NewSerial: serialHex(certs[0].SerialNumber), NotAfter: certs[0].NotAfter.UTC()}
	if rot.NewSerial == rot.OldSerial {
		return rot, true, fmt.Errorf("%s was not reissued (serial %s unchanged)", dir.CertPath(l.name), rot.NewSerial)
	}
	if err := pki.VerifyChain(data, caPEM, nil, x509.ExtKeyUsageAny); err != nil {
		return rot, true, fmt.Errorf("reissued %s: %w", dir.CertPath(l.name), err)
	}
	return rot, true, nil
}

// movedFiles remembers files moved aside so they can be put back.
type movedFiles struct {
	moves []move
}

type move struct{ name, from, to string }

// move moves <name>.key then <name>.crt of dir into backup.
func (m *movedFiles) move(dir pki.Dir, name, backup string) error {
	for _, from := range []string{dir.KeyPath(name), dir.CertPath(name)} {
		to := filepath.Join(backup, filepath.Base(from))
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("move %s aside: %w", from, err)
		}
		m.moves = append(m.moves, move{name: name, from: from, to: to})
	}
	return nil
}

// restore moves every file back, over whatever the generator wrote since.
func (m *movedFiles) restore() error {
	var errs []error
	for i := len(m.moves) - 1; i >= 0; i-- {
		mv := m.moves[i]
		if err := os.Rename(mv.to, mv.from); err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", mv.from, err))
		}
	}
	m.moves = nil
	return errors.Join(errs...)
}

// restoreName moves one name's files back.
func (m *movedFiles) restoreName(name string) error {
	var errs []error
	for _, mv := range m.moves {
		if mv.name == name {
			if err := os.Rename(mv.to, mv.from); err != nil {
				errs = append(errs, fmt.Errorf("restore %s: %w", mv.from, err))
			}
		}
	}
	return errors.Join(errs...)
}
