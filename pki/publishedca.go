package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// PublishedCAKey is the etcd key under which `etcdboot certs rotate --ca`
// publishes an autoscaling group's CA bundle for the phase it wrote, and
// which every member's watcher reads before it looks at the published
// issuer: the PEM certificates the member's CA file is to hold. A CA bundle
// is public; it carries no key.
const PublishedCAKey = "/etcdboot/ca"

// Reasons CheckPublishedCA refuses a bundle; each error wraps one.
var (
	// ErrCAUnchanged: the bundle holds the certificates installed already;
	// not a refusal, there is nothing to do.
	ErrCAUnchanged = errors.New("it is the CA bundle already installed")
	// ErrCABundleInvalid: it does not parse, or holds a certificate that
	// is no CA or is outside its validity period.
	ErrCABundleInvalid = errors.New("not a usable CA bundle")
	// ErrCABundleUnrelated: it shares no certificate with the installed
	// bundle: another cluster's, or a CA replaced without the phases.
	ErrCABundleUnrelated = errors.New("shares no certificate with the installed CA bundle")
	// ErrCABundleDropsIssuer: the intermediate the member mints with does
	// not chain to it, so its own certificates would stop verifying.
	ErrCABundleDropsIssuer = errors.New("the issuer in use does not chain to it")
)

// CheckPublishedCA decides whether bundle (PEM) may replace installed, a
// group member's CA file, at now. issuerChain is the intermediate the
// member mints its certificates with, followed by the chain it carries (a
// cross-certificate during a CA rotation). The bundle must parse, hold only
// CA certificates valid at now, share at least one certificate with
// installed (a rotation adds a CA beside the old one before it drops the
// old), and the issuer must chain to one of its roots, so the member never
// drops the CA of its own certificates (a member that has not taken the
// new issuer yet refuses the phase that drops the old CA). It returns the
// parsed bundle, or an error wrapping one of the ErrCA reasons. It does no
// I/O and reads no clock, so the operator's command and every member
// decide alike.
func CheckPublishedCA(installed []*x509.Certificate, bundle []byte, issuerChain []*x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	certs, err := ParseCertificates(bundle)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCABundleInvalid, err)
	}
	if SameCertificates(installed, certs) {
		return certs, ErrCAUnchanged
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range certs {
		name := fmt.Sprintf("certificate %q (serial %s)", c.Subject.CommonName, c.SerialNumber.Text(16))
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fmt.Errorf("%w: %s is not a CA certificate", ErrCABundleInvalid, name)
		}
		if now.Before(c.NotBefore) || !now.Before(c.NotAfter) {
			return nil, fmt.Errorf("%w: %s is valid from %s to %s, not at %s", ErrCABundleInvalid, name,
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		if selfSigned(c) {
			roots.AddCert(c)
		} else {
			intermediates.AddCert(c)
		}
	}
	if !ShareCertificate(installed, certs) {
		return nil, fmt.Errorf("%w: a new CA is rolled out with etcdboot certs rotate --ca, which publishes a bundle of the old and the new CA first", ErrCABundleUnrelated)
	}
	if len(issuerChain) == 0 {
		return nil, fmt.Errorf("%w: no issuer given", ErrCABundleDropsIssuer)
	}
	for _, c := range issuerChain[1:] {
		intermediates.AddCert(c)
	}
	issuer := issuerChain[0]
	if _, err := issuer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("%w: issuer %q (serial %s): %v; install the new issuer first (it is published with the phase before)",
			ErrCABundleDropsIssuer, issuer.Subject.CommonName, issuer.SerialNumber.Text(16), err)
	}
	return certs, nil
}

// SameCertificates reports whether a and b hold the same certificates, in
// any order: a CA bundle that is no change.
func SameCertificates(a, b []*x509.Certificate) bool {
	return len(a) == len(b) && containsEvery(a, b) && containsEvery(b, a)
}

func containsEvery(set, of []*x509.Certificate) bool {
	for _, c := range of {
		if !ShareCertificate(set, []*x509.Certificate{c}) {
			return false
		}
	}
	return true
}

// ShareCertificate reports whether a and b have a certificate in common:
// each phase of a CA rotation keeps one CA of the bundle before it.
func ShareCertificate(a, b []*x509.Certificate) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Equal(y) {
				return true
			}
		}
	}
	return false
}
