package pki

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// PublishedIssuerKey is the etcd key under which `etcdboot certs rotate
// --issuer` publishes an autoscaling group's renewed intermediate, and which
// every member's watcher reads before it renews its own certificates.
const PublishedIssuerKey = "/etcdboot/issuer"

// PublishedIssuer is the value at PublishedIssuerKey: the renewed
// intermediate's certificate and key, PEM. Members mint their certificates
// with it, so they need the key; who can read it is in the README.
type PublishedIssuer struct {
	CertPEM string `json:"cert"`
	KeyPEM  string `json:"key"`
}

// Marshal encodes p as the value stored at PublishedIssuerKey.
func (p PublishedIssuer) Marshal() []byte {
	data, _ := json.Marshal(p) // two strings: cannot fail
	return data
}

// ParsePublishedIssuer decodes a value stored at PublishedIssuerKey.
func ParsePublishedIssuer(data []byte) (PublishedIssuer, error) {
	var p PublishedIssuer
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("the value at %s is not a published issuer (JSON with cert and key): %w", PublishedIssuerKey, err)
	}
	if p.CertPEM == "" || p.KeyPEM == "" {
		return p, fmt.Errorf("the value at %s lacks the certificate or the key", PublishedIssuerKey)
	}
	return p, nil
}

// Reasons CheckRenewedIssuer refuses an issuer; each error wraps one.
var (
	// ErrIssuerUnchanged: the candidate is the issuer already in use; not a
	// refusal, there is nothing to do.
	ErrIssuerUnchanged = errors.New("it is the issuer already in use")
	// ErrIssuerInvalid: it does not parse, its key does not match, or it is
	// not an intermediate that issues only leaves.
	ErrIssuerInvalid = errors.New("not a usable intermediate CA")
	// ErrIssuerOtherRoot: it is not signed by the cluster's root CA.
	ErrIssuerOtherRoot = errors.New("not signed by this cluster's root CA")
	// ErrIssuerConstraints: its name constraints differ from the current
	// issuer's.
	ErrIssuerConstraints = errors.New("name constraints differ from the issuer in use")
	// ErrIssuerNotValid: it has expired, or is not valid yet.
	ErrIssuerNotValid = errors.New("outside its validity period")
	// ErrIssuerNotNewer: it expires before the issuer in use, so it is no
	// renewal (an old issuer published again, say).
	ErrIssuerNotNewer = errors.New("expires before the issuer in use")
)

// CheckRenewedIssuer decides whether next may replace current, the
// intermediate a group's member mints its certificates with, at now: next
// must be a CA with path length 0 whose key matches, signed by one of
// roots (the cluster's CA file), with exactly current's critical name
// constraints (wider ones would let it certify hosts outside the group,
// narrower ones could leave members outside it), valid at now and expiring
// no earlier than current. It returns next loaded as an Authority, or an error
// wrapping one of the ErrIssuer reasons that names what is wrong. It does
// no I/O and reads no clock, so the operator's command and every member
// decide alike.
func CheckRenewedIssuer(current *x509.Certificate, next PublishedIssuer, roots []*x509.Certificate, now time.Time) (*Authority, error) {
	a, err := LoadAuthority([]byte(next.CertPEM), []byte(next.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIssuerInvalid, err)
	}
	c := a.cert
	name := fmt.Sprintf("issuer %q (serial %s)", c.Subject.CommonName, c.SerialNumber.Text(16))
	if current != nil && bytes.Equal(c.Raw, current.Raw) {
		return a, fmt.Errorf("%s: %w", name, ErrIssuerUnchanged)
	}
	if selfSigned(c) || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		return nil, fmt.Errorf("%s: %w: it must be an intermediate with path length 0, as etcdboot certs rotate --issuer makes", name, ErrIssuerInvalid)
	}
	if !signedByOneOf(c, roots) {
		return nil, fmt.Errorf("%s: %w: it was issued by %q; make it under the cluster's CA with etcdboot certs rotate --issuer", name, ErrIssuerOtherRoot, c.Issuer.CommonName)
	}
	if current != nil {
		if diff := constraintDiff(current, c); diff != "" {
			return nil, fmt.Errorf("%s: %w: %s", name, ErrIssuerConstraints, diff)
		}
	}
	switch {
	case !now.Before(c.NotAfter):
		return nil, fmt.Errorf("%s: %w: it expired at %s", name, ErrIssuerNotValid, c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return nil, fmt.Errorf("%s: %w: it is valid only from %s, and this clock says %s", name, ErrIssuerNotValid, c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if current != nil && c.NotAfter.Before(current.NotAfter) {
		return nil, fmt.Errorf("%s: %w: it expires at %s, the one in use at %s", name, ErrIssuerNotNewer, c.NotAfter.UTC().Format(time.RFC3339), current.NotAfter.UTC().Format(time.RFC3339))
	}
	return a, nil
}

// signedByOneOf reports whether c's signature verifies with one of roots.
func signedByOneOf(c *x509.Certificate, roots []*x509.Certificate) bool {
	for _, r := range roots {
		if bytes.Equal(c.RawIssuer, r.RawSubject) && c.CheckSignatureFrom(r) == nil {
			return true
		}
	}
	return false
}

// constraintDiff says how next's name constraints differ from cur's, or ""
// when they are the same.
func constraintDiff(cur, next *x509.Certificate) string {
	var out []string
	if !next.PermittedDNSDomainsCritical {
		out = append(out, "they are not critical")
	}
	if len(next.ExcludedDNSDomains)+len(next.ExcludedIPRanges)+len(next.PermittedEmailAddresses)+len(next.PermittedURIDomains) > 0 {
		out = append(out, "it has constraints etcdboot never writes")
	}
	ranges := func(ns []*net.IPNet) []string {
		s := make([]string, len(ns))
		for i, n := range ns {
			s[i] = n.String()
		}
		return s
	}
	for _, d := range []struct {
		kind      string
		cur, next []string
	}{
		{"DNS", cur.PermittedDNSDomains, next.PermittedDNSDomains},
		{"IP", ranges(cur.PermittedIPRanges), ranges(next.PermittedIPRanges)},
	} {
		if len(d.next) == 0 {
			out = append(out, "it permits every "+d.kind+" name (no "+d.kind+" constraint), wider than the one in use")
			continue
		}
		if more := minus(d.next, d.cur); len(more) > 0 {
			out = append(out, fmt.Sprintf("it also permits %s %s: wider than the one in use (%s)", d.kind, strings.Join(more, ", "), strings.Join(d.cur, ", ")))
		}
		if less := minus(d.cur, d.next); len(less) > 0 {
			out = append(out, fmt.Sprintf("it no longer permits %s %s, which members may use", d.kind, strings.Join(less, ", ")))
		}
	}
	return strings.Join(out, "; ")
}

// minus is the strings of a that are not in b.
func minus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
