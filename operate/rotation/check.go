package rotation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/pki"
)

// DefaultThreshold is how close to its NotAfter a certificate counts as
// expiring: 30 days, as the etcdbootCertificateExpiringSoon alert.
const DefaultThreshold = 30 * 24 * time.Hour

// DefaultTimeout bounds fetching one endpoint's chain.
const DefaultTimeout = 5 * time.Second

// CheckOptions say which certificates Check reads and what it trusts.
type CheckOptions struct {
	// Dir is a generator PKI directory (out/pki): every <name>.crt in it is
	// checked, and its ca.crt is the trust anchor unless CAFile is set.
	Dir string
	// Files are certificate files (PEM, a leaf followed by its chain).
	Files []string
	// Endpoints are TLS endpoints ("https://10.0.0.1:2379" or "host:port")
	// whose served chain is fetched and checked, with host name verification.
	Endpoints []string
	// CAFile is the trust anchor bundle; defaults to Dir/ca.crt.
	CAFile string
	// CertFile and KeyFile are a client certificate presented to endpoints:
	// etcd with client-cert-auth asks for one. The chain is read even when
	// the endpoint then refuses the handshake.
	CertFile, KeyFile string
	// Threshold defaults to DefaultThreshold.
	Threshold time.Duration
	// Now defaults to time.Now(); chains are verified at Now.
	Now time.Time
	// Timeout bounds each endpoint; defaults to DefaultTimeout.
	Timeout time.Duration
}

// Certificate is one row of a Report: one certificate of a file or of the
// chain an endpoint served.
type Certificate struct {
	// Source is the file path or the endpoint.
	Source string `json:"source"`
	// Position is the certificate's index in the file or served chain: 0 is
	// the leaf, the rest its chain.
	Position int `json:"position"`
	// Kind is ca, intermediate, server, peer, client or leaf.
	Kind      string    `json:"kind,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	Serial    string    `json:"serial,omitempty"`
	SANs      []string  `json:"sans,omitempty"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// DaysLeft is whole days from Report.Now to NotAfter, negative once
	// expired.
	DaysLeft int `json:"daysLeft"`
	// Expiring is true when less than the threshold is left, or none.
	Expiring bool `json:"expiring"`
	// ChainOK says whether the certificate verifies to the trust anchor at
	// Now through the chain it came with (and, for an endpoint's leaf, for
	// the endpoint's host); ChainError says why not.
	ChainOK    bool   `json:"chainOK"`
	ChainError string `json:"chainError,omitempty"`
	// KeyUsageOK says whether the key usages fit Kind; KeyUsageError says
	// what is missing.
	KeyUsageOK    bool   `json:"keyUsageOK"`
	KeyUsageError string `json:"keyUsageError,omitempty"`
	// Error is set when the source could not be read, parsed or fetched;
	// the other fields are then empty.
	Error string `json:"error,omitempty"`
}

// Certificate states, as Status reports them.
const (
	StatusOK       = "ok"
	StatusExpiring = "expiring"
	StatusExpired  = "expired"
	StatusInvalid  = "invalid"
	StatusError    = "error"
)

// Status sums the row up, worst first: error, expired, invalid (chain or
// key usage), expiring, ok.
func (c Certificate) Status() string {
	switch {
	case c.Error != "":
		return StatusError
	case c.DaysLeft < 0:
		return StatusExpired
	case !c.ChainOK || !c.KeyUsageOK:
		return StatusInvalid
	case c.Expiring:
		return StatusExpiring
	}
	return StatusOK
}

// Report is what Check found.
type Report struct {
	Now       time.Time     `json:"now"`
	Threshold time.Duration `json:"threshold"`
	// TrustAnchor is the CA file chains were verified against; empty when
	// there was none, and then no chain is OK.
	TrustAnchor  string        `json:"trustAnchor,omitempty"`
	Certificates []Certificate `json:"certificates"`
	// CARotation is the state of a CA rotation under way in the PKI
	// directory, if any.
	CARotation *CARotationState `json:"caRotation,omitempty"`
}

// Expiring returns the certificates with less than the threshold left,
// expired ones included.
func (r Report) Expiring() []Certificate {
	var out []Certificate
	for _, c := range r.Certificates {
		if c.Error == "" && c.Expiring {
			out = append(out, c)
		}
	}
	return out
}

// Problems returns the rows that could not be read or fetched, or whose
// chain or key usage is wrong.
func (r Report) Problems() []Certificate {
	var out []Certificate
	for _, c := range r.Certificates {
		if c.Error != "" || !c.ChainOK || !c.KeyUsageOK {
			out = append(out, c)
		}
	}
	return out
}

// OK reports whether nothing is expiring and nothing is wrong.
func (r Report) OK() bool { return len(r.Expiring()) == 0 && len(r.Problems()) == 0 }

// ErrNothingToCheck is returned by Check when the options name no
// certificate at all.
var ErrNothingToCheck = errors.New("nothing to check")

// Check reads every certificate the options name and reports on each. A file
// that cannot be read or an endpoint that cannot be reached is a row with
// Error set, not an error: the other rows still matter. Check fails only on
// options it cannot work with: nothing to check, or an unreadable CA file.
func Check(ctx context.Context, opts CheckOptions) (Report, error) {
	if opts.Dir == "" && len(opts.Files) == 0 && len(opts.Endpoints) == 0 {
		return Report{}, fmt.Errorf("check certificates: %w; give a PKI directory, certificate files or endpoints", ErrNothingToCheck)
	}
	if opts.Threshold <= 0 {
		opts.Threshold = DefaultThreshold
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	r := Report{Now: opts.Now, Threshold: opts.Threshold, Certificates: []Certificate{}}
	roots, anchor, err := loadRoots(opts)
	if err != nil {
		return r, fmt.Errorf("check certificates: %w", err)
	}
	r.TrustAnchor = anchor
	c := checker{roots: roots, now: opts.Now, threshold: opts.Threshold}

	var files []string
	if opts.Dir != "" {
		st, err := LoadCARotation(opts.Dir)
		if err != nil {
			return r, fmt.Errorf("check certificates: %w", err)
		}
		if st.Phase != CAPhaseNone {
			r.CARotation = &st
		}
		found, err := certFiles(opts.Dir)
		if err != nil {
			return r, fmt.Errorf("check certificates: %w", err)
		}
		files = append(files, found...)
	}
	files = append(files, opts.Files...)
	for _, f := range files {
		r.Certificates = append(r.Certificates, c.file(f)...)
	}
	if len(opts.Endpoints) > 0 {
		client, err := clientCertificate(opts.CertFile, opts.KeyFile)
		if err != nil {
			return r, fmt.Errorf("check certificates: %w", err)
		}
		for _, ep := range opts.Endpoints {
			r.Certificates = append(r.Certificates, c.endpoint(ctx, ep, client, opts.Timeout)...)
		}
	}
	return r, nil
}

// loadRoots reads the trust anchors: CAFile, else Dir/ca.crt if it exists.
// No anchor is no error: every chain then says so.
func loadRoots(opts CheckOptions) (*x509.CertPool, string, error) {
	path := opts.CAFile
	if path == "" && opts.Dir != "" {
		path = filepath.Join(opts.Dir, "ca.crt")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, "", nil
		}
	}
	if path == "" {
		return nil, "", nil
	}
	certs, err := pki.ReadCertificates(path)
	if err != nil {
		return nil, "", fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, path, nil
}

// certFiles lists the <name>.crt files of a PKI directory, sorted.
func certFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read PKI directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		// Dot files are the atomic writers' temporaries.
		if e.Type().IsRegular() && filepath.Ext(e.Name()) == ".crt" && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

// checker judges certificates against one trust anchor at one time.
type checker struct {
	roots     *x509.CertPool
	now       time.Time
	threshold time.Duration
}

// file checks every certificate of a PEM file.
func (c checker) file(path string) []Certificate {
	certs, err := pki.ReadCertificates(path)
	if err != nil {
		return []Certificate{{Source: path, Error: err.Error()}}
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return c.chain(path, certs, name, "")
}

// chain checks a leaf and the certificates that came with it. host, when
// set, is the name the leaf must be valid for.
func (c checker) chain(source string, certs []*x509.Certificate, name, host string) []Certificate {
	rows := make([]Certificate, len(certs))
	for i, cert := range certs {
		row := c.describe(source, i, cert)
		row.Kind = kindOf(cert, name, i, host != "")
		// Verification uses the rest of the bundle as intermediates: a
		// member's bundle carries the issuing intermediate after the leaf.
		opts := x509.VerifyOptions{
			Roots:         c.roots,
			Intermediates: x509.NewCertPool(),
			CurrentTime:   c.now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		}
		for j, other := range certs {
			if j != i {
				opts.Intermediates.AddCert(other)
			}
		}
		if i == 0 {
			opts.DNSName = host
		}
		switch {
		case c.roots == nil:
			row.ChainError = "no trust anchor: give the CA file (--cacert) or the PKI directory"
		default:
			if _, err := cert.Verify(opts); err != nil {
				row.ChainError = explainVerify(err)
			} else {
				row.ChainOK = true
			}
		}
		if err := checkKeyUsage(cert, row.Kind); err != nil {
			row.KeyUsageError = err.Error()
		} else {
			row.KeyUsageOK = true
		}
		rows[i] = row
	}
	return rows
}

// describe fills what one certificate says about itself.
func (c checker) describe(source string, pos int, cert *x509.Certificate) Certificate {
	left := cert.NotAfter.Sub(c.now)
	return Certificate{
		Source:    source,
		Position:  pos,
		Subject:   subjectName(cert.Subject.CommonName, cert.Subject.String()),
		Issuer:    subjectName(cert.Issuer.CommonName, cert.Issuer.String()),
		Serial:    serialHex(cert.SerialNumber),
		SANs:      sans(cert),
		NotBefore: cert.NotBefore.UTC(),
		NotAfter:  cert.NotAfter.UTC(),
		DaysLeft:  int(math.Floor(left.Hours() / 24)),
		Expiring:  left < c.threshold,
	}
}

func subjectName(cn, full string) string {
	if cn != "" {
		return cn
	}
	return full
}

// serialHex formats a serial number the way openssl x509 -serial does.
func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	return strings.ToUpper(n.Text(16))
}

// sans lists the subject alternative names: DNS names, then IPs.
func sans(cert *x509.Certificate) []string {
	var out []string
	out = append(out, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		out = append(out, ip.String())
	}
	for _, u := range cert.URIs {
		out = append(out, u.String())
	}
	return out
}

// explainVerify turns crypto/x509's verification errors into what to do.
func explainVerify(err error) string {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown):
		return "not signed by the trusted CA (" + err.Error() + "); reissue it from this cluster's CA"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "expired or not yet valid (" + err.Error() + "); rotate it"
	case errors.As(err, &host):
		return err.Error() + "; reissue it with this name among its SANs"
	}
	return err.Error()
}
