package rotation

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/atomicfile"
	"github.com/etcdboot/etcdboot/internal/status"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// The successor CA's files in out/pki while phase (a) is out: ca-new.crt is
// the new root followed by its cross-certificate.
const caNewName = "ca-new"

// ErrCAPhaseWaiting is wrapped by RotateCA's error when the next phase may
// not be written yet: the members have not all taken the current one.
var ErrCAPhaseWaiting = errors.New("the CA rotation waits for the members")

// CARotateResult is what one RotateCA run saw, decided and wrote.
type CARotateResult struct {
	Before   CARotationState `json:"before"`
	Seen     []EndpointTrust `json:"seen"`
	Decision CADecision      `json:"decision"`
	// Wrote is the phase written to out/ by this run, if any.
	Wrote CAPhase         `json:"wrote,omitempty"`
	After CARotationState `json:"after"`
	// Generate is the generator run that rewrote the payloads.
	Generate *generate.Result `json:"-"`
	// Published is, for an autoscaling group, the etcd revision at which
	// the phase in out/ was published to the group (the CA bundle, and in
	// phase (b) the new CA's issuer); 0 for listed members, which get
	// their payloads with certs install.
	Published int64 `json:"published,omitempty"`
	// Group is true for an autoscaling group.
	Group bool `json:"group,omitempty"`
}

// RotateCA takes a cluster's CA rotation one phase further: it observes
// every member (which CA the certificate it serves comes from, which CAs'
// client certificates it accepts), decides with DecideCA, and when the
// members have all taken the current phase writes the next one to out/: the
// PKI directory, every node payload, and the monitoring and kubeadm copies.
// It is run once per phase; between runs each member gets its new user-data
// with etcdboot-agent certs install. An autoscaling group's phase is
// published through the group instead (publishCAPhase), where each member's
// watcher takes it, and every member the group lists is observed. The state is out/pki/ca-rotation.json,
// so an interrupted run is resumed by running it again.
func RotateCA(ctx context.Context, opts LiveOptions) (*CARotateResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c, _, err := spec.LoadCluster(opts.SpecPath)
	if err != nil {
		return nil, fmt.Errorf("rotate CA: %w", err)
	}
	if len(opts.Endpoints) == 0 {
		opts.Endpoints = status.EndpointsFromCluster(c)
	}
	dir := pki.Dir{Path: filepath.Join(opts.OutDir, "pki")}
	st, err := LoadCARotation(dir.Path)
	if err != nil {
		return nil, fmt.Errorf("rotate CA: %w", err)
	}
	res := &CARotateResult{Before: st, Group: c.Autoscaling != nil}
	// publish puts a group's phase in out/ where its members take it.
	publish := func(phase CAPhase) error {
		var err error
		if res.Published, err = publishCAPhase(ctx, opts, dir, phase); err != nil {
			return fmt.Errorf("rotate CA: phase (%s) %s is in out/ but could not be published to the group: %w; run etcdboot certs rotate --ca again once it answers", phase.Letter(), phase, err)
		}
		return nil
	}
	// A phase only partly written is written again whatever the members
	// show; its CA files may be half swapped, so nothing is probed.
	if st.Phase == CAPhaseNone || st.Written {
		endpoints := opts.Endpoints
		if res.Group {
			// A group's members mint their own certificates: the phase
			// out now is published again (a run that wrote it may have
			// failed to publish it; members ignore a value they hold),
			// and every member the group has now is observed.
			if st.Phase != CAPhaseNone {
				if err := publish(st.Phase); err != nil {
					return res, err
				}
			}
			if endpoints, err = groupEndpoints(ctx, dir, opts.Endpoints, opts.Timeout); err != nil {
				return res, fmt.Errorf("rotate CA: %w", err)
			}
		}
		if res.Seen, err = ObserveCA(ctx, dir.Path, st, endpoints, opts.Timeout); err != nil {
			return nil, fmt.Errorf("rotate CA: %w", err)
		}
	}
	res.Decision = DecideCA(st, res.Seen)
	res.After = st
	if res.Decision.Next == CAPhaseNone {
		if res.Decision.Done {
			return res, nil
		}
		return res, fmt.Errorf("rotate CA: phase (%s) %s is out; %w: %s", st.Phase.Letter(), st.Phase, ErrCAPhaseWaiting, strings.Join(res.Decision.Waiting, "; "))
	}
	w := caWriter{dir: dir, opts: opts, cluster: c, st: st}
	if err := w.write(res.Decision.Next); err != nil {
		return res, fmt.Errorf("rotate CA: phase (%s) %s: %w; run etcdboot certs rotate --ca again to finish it", res.Decision.Next.Letter(), res.Decision.Next, err)
	}
	res.Wrote, res.After, res.Generate = res.Decision.Next, w.st, w.gen
	if res.Group {
		if err := publish(res.Wrote); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ObserveCA makes new TLS handshakes with every endpoint to see which CA
// the certificate it serves comes from and which CAs' client certificates it
// accepts, with probe certificates minted in memory from the CAs of pkiDir
// that state says are there.
func ObserveCA(ctx context.Context, pkiDir string, st CARotationState, endpoints []string, timeout time.Duration) ([]EndpointTrust, error) {
	old, next, err := rotationAuthorities(pki.Dir{Path: pkiDir}, st)
	if err != nil {
		return nil, err
	}
	probe, err := newCAProbe(old, next)
	if err != nil {
		return nil, err
	}
	return probe.observe(ctx, endpoints, timeout), nil
}

// rotationAuthorities loads the old CA (nil once its key is gone from reach)
// and the new one (nil before phase (a)) as the recorded state places them.
func rotationAuthorities(dir pki.Dir, st CARotationState) (old, next *pki.Authority, err error) {
	load := func(certPath, keyPath string) (*pki.Authority, error) {
		certPEM, err := os.ReadFile(certPath)
		if err != nil {
			return nil, err
		}
		keyPEM, err := os.ReadFile(keyPath)
		if err != nil {
			return nil, err
		}
		return pki.LoadAuthority(certPEM, keyPEM)
	}
	ca, err := load(dir.CertPath("ca"), dir.KeyPath("ca"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s: %w; run etcdboot generate first", dir.CertPath("ca"), ErrNoCA)
	}
	if err != nil {
		return nil, nil, err
	}
	if st.Phase == CAPhaseNone || fingerprint(ca.Certificate()) == st.OldCA {
		old = ca
		if next, err = load(dir.CertPath(caNewName), dir.KeyPath(caNewName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		return old, next, nil
	}
	next = ca
	if st.BackupDir != "" {
		backup := pki.Dir{Path: st.BackupDir}
		if old, err = load(backup.CertPath("ca"), backup.KeyPath("ca")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
	}
	return old, next, nil
}

// caWriter writes one phase to out/.
type caWriter struct {
	dir     pki.Dir
	opts    LiveOptions
	cluster *spec.Cluster
	st      CARotationState
	gen     *generate.Result
}

func (w *caWriter) write(phase CAPhase) error {
	if w.st.Phase != phase {
		w.st.Phase, w.st.Written = phase, false
	}
	var err error
	switch phase {
	case CAPhaseTrustBoth:
		err = w.trustBoth()
	case CAPhaseNewLeaves:
		err = w.newLeaves()
	case CAPhaseOldDropped:
		err = w.oldDropped()
	default:
		err = fmt.Errorf("unknown phase %q", phase)
	}
	if err != nil {
		return err
	}
	if w.gen, err = generate.Run(generate.Options{SpecPath: w.opts.SpecPath, OutDir: w.opts.OutDir, Remaps: w.opts.Remaps, Logger: w.opts.Logger}); err != nil {
		return err
	}
	w.st.Written = true
	w.st.History = append(w.st.History, PhaseMark{Phase: phase, At: w.opts.Now().UTC()})
	return w.st.save(w.dir.Path)
}

// trustBoth is phase (a): the successor CA is made (or the one a previous
// run made is kept) and out/pki/ca.crt becomes the bundle of both roots; the
// old CA still signs, so the generator keeps every certificate.
func (w *caWriter) trustBoth() error {
	certPEM, err := os.ReadFile(w.dir.CertPath("ca"))
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(w.dir.KeyPath("ca"))
	if err != nil {
		return err
	}
	old, err := pki.LoadAuthority(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", w.dir.CertPath("ca"), err)
	}
	if !old.IsRoot() {
		return fmt.Errorf("%s is not a root CA", w.dir.CertPath("ca"))
	}
	next, err := w.successor(old)
	if err != nil {
		return err
	}
	now := w.opts.Now().UTC()
	w.st.OldCA, w.st.NewCA = fingerprint(old.Certificate()), fingerprint(next.Certificate())
	if w.st.BackupDir == "" {
		w.st.BackupDir = filepath.Join(w.dir.Path, "ca-rotation-"+now.Format("20060102T150405Z"))
	}
	if err := os.MkdirAll(w.st.BackupDir, 0o700); err != nil {
		return err
	}
	if err := w.st.save(w.dir.Path); err != nil {
		return err
	}
	return atomicfile.Write(w.dir.CertPath("ca"), append(old.CertPEM(), next.CertPEM()...), 0o644)
}

// successor loads ca-new, or makes it: the new root and its cross-certificate.
func (w *caWriter) successor(old *pki.Authority) (*pki.Authority, error) {
	certPEM, cerr := os.ReadFile(w.dir.CertPath(caNewName))
	keyPEM, kerr := os.ReadFile(w.dir.KeyPath(caNewName))
	if cerr == nil && kerr == nil {
		next, err := pki.LoadAuthority(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s: %w; delete ca-new.crt and ca-new.key to make another", w.dir.CertPath(caNewName), err)
		}
		return next, nil
	}
	key := pki.KeySpec{Algorithm: w.cluster.PKI.KeyAlgorithm, Size: w.cluster.PKI.KeySize}
	next, err := pki.NewSuccessorCA(old, key, w.cluster.PKI.Expiry.Std(), w.opts.Now())
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(w.dir.KeyPath(caNewName), next.KeyPEM(), 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(w.dir.CertPath(caNewName), append(next.CertPEM(), next.ChainPEM()...), 0o644); err != nil {
		return nil, err
	}
	return next, nil
}

// newLeaves is phase (b): the old CA and every certificate it issued move to
// the backup directory and the new CA signs: out/pki/ca.crt is the new root,
// its cross-certificate (which LoadAuthority makes the chain every new
// certificate carries) and the old root, so that it stays the bundle of both
// for etcdctl. The generator then issues every certificate anew, new keys
// included, since none is left.
func (w *caWriter) newLeaves() error {
	if err := w.st.save(w.dir.Path); err != nil {
		return err
	}
	backup := pki.Dir{Path: w.st.BackupDir}
	certs, err := pki.ReadCertificates(w.dir.CertPath("ca"))
	if err != nil {
		return err
	}
	oldRoot := findRoot(certs, w.st.OldCA)
	if oldRoot == nil {
		return fmt.Errorf("%s no longer holds the old CA (%s); restore it from %s", w.dir.CertPath("ca"), w.st.OldCA, w.st.BackupDir)
	}
	if fingerprint(certs[0]) == w.st.OldCA {
		// The old CA still signs: keep it (never over an earlier copy, which
		// may be the only one of its key), then move its certificates aside.
		for _, name := range []string{"ca.crt", "ca.key"} {
			if err := copyIfAbsent(filepath.Join(w.dir.Path, name), filepath.Join(backup.Path, name)); err != nil {
				return err
			}
		}
		backupCA := pki.Dir{Path: backup.Path}
		if _, err := os.Stat(backupCA.KeyPath("ca")); err != nil {
			return fmt.Errorf("keep the old CA: %w", err)
		}
		leaves, err := issuedBelowRoot(w.dir)
		if err != nil {
			return err
		}
		moved := &movedFiles{}
		for _, l := range leaves {
			if l.name == caNewName {
				continue
			}
			if err := moved.move(w.dir, l.name, backup.Path); err != nil {
				return err
			}
		}
	}
	newKey, err := os.ReadFile(w.dir.KeyPath(caNewName))
	if errors.Is(err, fs.ErrNotExist) {
		// A previous run swapped the CA and removed ca-new already.
		return nil
	}
	if err != nil {
		return err
	}
	newPEM, err := os.ReadFile(w.dir.CertPath(caNewName))
	if err != nil {
		return err
	}
	next, err := pki.LoadAuthority(newPEM, newKey)
	if err != nil {
		return fmt.Errorf("%s: %w", w.dir.CertPath(caNewName), err)
	}
	bundle := append(next.CertPEM(), next.ChainPEM()...)
	bundle = append(bundle, pemOf(oldRoot)...)
	if err := atomicfile.Write(w.dir.CertPath("ca"), bundle, 0o644); err != nil {
		return err
	}
	if err := atomicfile.Write(w.dir.KeyPath("ca"), newKey, 0o600); err != nil {
		return err
	}
	for _, p := range []string{w.dir.KeyPath(caNewName), w.dir.CertPath(caNewName)} {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// oldDropped is phase (c): out/pki/ca.crt loses the old root and keeps the
// new one and its cross-certificate, which the certificates still carry for
// the members that loaded the old CA when they started.
func (w *caWriter) oldDropped() error {
	if err := w.st.save(w.dir.Path); err != nil {
		return err
	}
	certs, err := pki.ReadCertificates(w.dir.CertPath("ca"))
	if err != nil {
		return err
	}
	if fingerprint(certs[0]) != w.st.NewCA {
		return fmt.Errorf("%s does not start with the new CA (%s); phase (b) was not written", w.dir.CertPath("ca"), w.st.NewCA)
	}
	var keep []byte
	for _, c := range certs {
		if fingerprint(c) != w.st.OldCA {
			keep = append(keep, pemOf(c)...)
		}
	}
	return atomicfile.Write(w.dir.CertPath("ca"), keep, 0o644)
}

// findRoot returns the certificate of certs with fingerprint fp.
func findRoot(certs []*x509.Certificate, fp string) *x509.Certificate {
	for _, c := range certs {
		if fingerprint(c) == fp {
			return c
		}
	}
	return nil
}

// fingerprint is a certificate's SHA-256, hex, as openssl x509 -fingerprint
// -sha256 prints it without colons.
func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// copyIfAbsent copies from to to, unless to exists.
func copyIfAbsent(from, to string) error {
	if _, err := os.Stat(to); err == nil {
		return nil
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	st, err := os.Stat(from)
	if err != nil {
		return err
	}
	return atomicfile.Write(to, data, st.Mode().Perm())
}
