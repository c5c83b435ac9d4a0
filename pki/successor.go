package pki

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/initca"

	"github.com/etcdboot/etcdboot/spec"
)

// NewSuccessorCA makes the root CA that replaces old in a CA rotation, and a
// cross-certificate for it: the new CA's subject and key signed by old.
//
// The returned Authority's certificate is the new self-signed root; its chain
// (what every leaf it issues presents after itself) is the cross-certificate.
// etcd loads its trusted CA file once, at start, so a running member trusts
// only the CA it started with; a leaf of the new CA presented with the
// cross-certificate verifies to the old root as well as to the new one, so
// running members accept it without a restart.
//
// The new root keeps old's common name (etcdboot generate checks it) and
// differs in the subject's serialNumber attribute, so that verifiers tell
// the two roots apart by subject as well as by key identifier.
func NewSuccessorCA(old *Authority, key KeySpec, expiry time.Duration, now time.Time) (*Authority, error) {
	if !old.IsRoot() {
		return nil, errors.New("new successor CA: the CA to replace is not a root")
	}
	key = key.orDefault()
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("new successor CA: %w", err)
	}
	if expiry <= 0 {
		expiry = spec.DefaultCertExpiry
	}
	cn := old.cert.Subject.CommonName
	req := &csr.CertificateRequest{
		CN:           cn,
		SerialNumber: "rotated " + now.UTC().Format("20060102T150405Z"),
		KeyRequest:   key.cfssl(),
		CA:           &csr.CAConfig{Expiry: expiry.String()},
	}
	certPEM, _, keyPEM, err := initca.New(req)
	if err != nil {
		return nil, fmt.Errorf("new successor CA %q: cfssl initca: %w", cn, err)
	}
	next, err := LoadAuthority(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("new successor CA %q: %w", cn, err)
	}
	cross, err := old.CrossSign(next.cert, now)
	if err != nil {
		return nil, err
	}
	return LoadAuthority(append(next.CertPEM(), cross...), keyPEM)
}

// CrossSign signs ca's subject and public key with a, as a CA certificate
// with ca's key identifier and constraints, valid from now until ca or a
// expires, whichever is first. Verifiers that trust a then accept what ca
// issues, when the cross-certificate comes with it.
func (a *Authority) CrossSign(ca *x509.Certificate, now time.Time) ([]byte, error) {
	if !ca.IsCA || !ca.BasicConstraintsValid {
		return nil, fmt.Errorf("cross-sign %q: not a CA certificate", ca.Subject.CommonName)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("cross-sign %q: serial number: %w", ca.Subject.CommonName, err)
	}
	end := ca.NotAfter
	if a.cert.NotAfter.Before(end) {
		end = a.cert.NotAfter
	}
	start := now.UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	if !end.After(now) {
		return nil, fmt.Errorf("cross-sign %q: %q expired at %s", ca.Subject.CommonName, a.cert.Subject.CommonName, end.UTC().Format(time.RFC3339))
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		RawSubject:            ca.RawSubject,
		Subject:               ca.Subject,
		NotBefore:             start,
		NotAfter:              end,
		KeyUsage:              ca.KeyUsage,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            ca.MaxPathLen,
		MaxPathLenZero:        ca.MaxPathLenZero,
		SubjectKeyId:          ca.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, ca.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("cross-sign %q with %q: %w", ca.Subject.CommonName, a.cert.Subject.CommonName, err)
	}
	return encodeCertPEM(der), nil
}
