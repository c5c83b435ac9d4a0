package rotation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/status"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// issuerName is the base name of an autoscaling group's intermediate in
// the generator's PKI directory.
const issuerName = "issuer"

// ErrNoGroup is wrapped by RotateIssuer's error when the spec has no
// autoscaling section, so there is no issuer to renew.
var ErrNoGroup = errors.New("no autoscaling group")

// IssuerCert identifies one issuer.
type IssuerCert struct {
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"notAfter"`
}

// IssuerResult is what RotateIssuer did.
type IssuerResult struct {
	Old IssuerCert `json:"old"`
	New IssuerCert `json:"new"`
	// BackupDir holds the previous issuer's certificate and key.
	BackupDir string `json:"backupDir"`
	// Launch is the directory of the new launch payload.
	Launch string `json:"launch"`
	// Revision is the cluster revision the issuer was published at; 0 when
	// it was not.
	Revision  int64    `json:"revision"`
	Endpoints []string `json:"endpoints"`
	// Generate is the generator run that made it and rewrote the payloads.
	Generate *generate.Result `json:"-"`
}

// RotateIssuer renews an autoscaling group's member-issuing intermediate in
// place: it makes a new one under the same root, with a new key and the
// spec's name constraints, rewrites the launch payload with it for new
// instances, checks it as the members will (pki.CheckRenewedIssuer against
// the one it replaces) and publishes it at pki.PublishedIssuerKey through
// the running group with the admin certificate. Each member's watcher
// installs it before its next renewal. The previous files are moved to
// pki/rotated-<time>/; a failed generator run puts them back.
func RotateIssuer(ctx context.Context, opts LiveOptions) (*IssuerResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	c, _, err := spec.LoadCluster(opts.SpecPath)
	if err != nil {
		return nil, fmt.Errorf("renew the issuer: %w", err)
	}
	if c.Autoscaling == nil {
		return nil, fmt.Errorf("renew the issuer: %s: %w: only a group's launch payload carries an issuer; etcdboot certs rotate renews static members' certificates", opts.SpecPath, ErrNoGroup)
	}
	if len(opts.Endpoints) == 0 {
		opts.Endpoints = status.EndpointsFromCluster(c)
	}
	dir := pki.Dir{Path: filepath.Join(opts.OutDir, "pki")}
	old, err := readIssuer(dir)
	if err != nil {
		return nil, fmt.Errorf("renew the issuer: %w; run etcdboot generate first", err)
	}
	res := &IssuerResult{
		Old:       issuerCert(old.Certificate()),
		BackupDir: filepath.Join(dir.Path, "rotated-"+opts.Now().UTC().Format("20060102T150405Z")),
		Endpoints: opts.Endpoints,
	}
	if err := os.Mkdir(res.BackupDir, 0o700); err != nil {
		return nil, fmt.Errorf("renew the issuer: keep the previous files: %w", err)
	}
	moved := &movedFiles{}
	if err := moved.move(dir, issuerName, res.BackupDir); err != nil {
		return nil, errors.Join(fmt.Errorf("renew the issuer: %w", err), moved.restore())
	}
	gen, err := generate.Run(generate.Options{SpecPath: opts.SpecPath, OutDir: opts.OutDir, Remaps: opts.Remaps, Logger: opts.Logger})
	if err != nil {
		if rerr := moved.restore(); rerr != nil {
			return nil, fmt.Errorf("renew the issuer: %w; restoring the previous issuer from %s failed too: %v", err, res.BackupDir, rerr)
		}
		return nil, fmt.Errorf("renew the issuer: %w; the previous issuer is restored, the launch payload may need etcdboot generate", err)
	}
	res.Generate = gen
	if gen.Launch != nil {
		res.Launch = filepath.Join(opts.OutDir, "nodes", gen.Launch.Name)
	}
	pub := pki.PublishedIssuer{}
	if pub.CertPEM, pub.KeyPEM, err = readPair(dir, issuerName); err != nil {
		return res, fmt.Errorf("renew the issuer: %w", err)
	}
	roots, err := pki.ReadCertificates(dir.CertPath("ca"))
	if err != nil {
		return res, fmt.Errorf("renew the issuer: %w", err)
	}
	next, err := pki.CheckRenewedIssuer(old.Certificate(), pub, roots, opts.Now())
	if err != nil {
		hint := ""
		if errors.Is(err, pki.ErrIssuerConstraints) {
			hint = "the group's domain and subnets must stay those it was launched with (roll the group with a new launch payload to change them); "
		}
		return res, fmt.Errorf("renew the issuer: the members would refuse the new one, so it is not published: %w; %sthe previous issuer is in %s",
			err, hint, res.BackupDir)
	}
	res.New = issuerCert(next.Certificate())
	if res.Revision, err = publishIssuer(ctx, opts, dir, pub); err != nil {
		return res, fmt.Errorf("renew the issuer: the new issuer is in %s and the launch payload, but was not published to the group: %w; "+
			"run etcdboot certs rotate --issuer again once the group answers (it makes another one)", dir.CertPath(issuerName), err)
	}
	return res, nil
}

// readIssuer loads the group's issuer from dir.
func readIssuer(dir pki.Dir) (*pki.Authority, error) {
	certPEM, keyPEM, err := readPair(dir, issuerName)
	if err != nil {
		return nil, err
	}
	a, err := pki.LoadAuthority([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir.CertPath(issuerName), err)
	}
	return a, nil
}

func readPair(dir pki.Dir, name string) (certPEM, keyPEM string, err error) {
	c, err := os.ReadFile(dir.CertPath(name))
	if err != nil {
		return "", "", err
	}
	k, err := os.ReadFile(dir.KeyPath(name))
	if err != nil {
		return "", "", err
	}
	return string(c), string(k), nil
}

func issuerCert(c *x509.Certificate) IssuerCert {
	return IssuerCert{Serial: serialHex(c.SerialNumber), NotAfter: c.NotAfter.UTC()}
}

// WriteIssuerRotation writes what RotateIssuer did and what is left to do.
func WriteIssuerRotation(w io.Writer, res *IssuerResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "issuer renewed under the same CA: serial %s (expires %s) -> %s (expires %s)\n",
		res.Old.Serial, res.Old.NotAfter.Format(time.RFC3339), res.New.Serial, res.New.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(&b, "published at %s (revision %d) through %s: each member's watcher checks it and installs it\n"+
		"before its next renewal (etcdboot-agent --renew-interval, 10m by default), then renews its own certificates with it.\n",
		pki.PublishedIssuerKey, res.Revision, strings.Join(res.Endpoints, ","))
	fmt.Fprintf(&b, "new instances: put %s in the launch template; the previous issuer is in %s.\n", res.Launch, res.BackupDir)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write issuer renewal summary: %w", err)
	}
	return nil
}
