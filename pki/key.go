package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"

	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/helpers"

	"github.com/etcdboot/etcdboot/spec"
)

// KeySpec is the type and size of a private key.
type KeySpec struct {
	// Algorithm is "ecdsa" or "rsa" (spec.KeyECDSA, spec.KeyRSA).
	Algorithm string
	// Size is the curve size for ecdsa (256, 384, 521) or the modulus
	// length for rsa (2048, 3072, 4096).
	Size int
}

// DefaultKeySpec is ECDSA P-256, etcdboot's default key; the zero KeySpec
// means this everywhere.
func DefaultKeySpec() KeySpec { return KeySpec{Algorithm: spec.KeyECDSA, Size: 256} }

// String returns e.g. "ecdsa-256".
func (k KeySpec) String() string { return fmt.Sprintf("%s-%d", k.Algorithm, k.Size) }

// orDefault returns k, or DefaultKeySpec for the zero KeySpec.
func (k KeySpec) orDefault() KeySpec {
	if k == (KeySpec{}) {
		return DefaultKeySpec()
	}
	return k
}

// Validate reports whether k is a key etcdboot issues.
func (k KeySpec) Validate() error {
	switch k.Algorithm {
	case spec.KeyECDSA:
		switch k.Size {
		case 256, 384, 521:
			return nil
		}
		return fmt.Errorf("key size %d is not an ECDSA curve; use 256 (P-256), 384 or 521", k.Size)
	case spec.KeyRSA:
		switch k.Size {
		case 2048, 3072, 4096:
			return nil
		}
		return fmt.Errorf("RSA key size %d is not supported; use 2048, 3072 or 4096", k.Size)
	}
	return fmt.Errorf("key algorithm %q is not supported; use %q or %q", k.Algorithm, spec.KeyECDSA, spec.KeyRSA)
}

func (k KeySpec) cfssl() *csr.KeyRequest { return &csr.KeyRequest{A: k.Algorithm, S: k.Size} }

// keySpecOf returns the KeySpec of a public key.
func keySpecOf(pub crypto.PublicKey) (KeySpec, error) {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		return KeySpec{Algorithm: spec.KeyECDSA, Size: pub.Curve.Params().BitSize}, nil
	case *rsa.PublicKey:
		return KeySpec{Algorithm: spec.KeyRSA, Size: pub.N.BitLen()}, nil
	}
	return KeySpec{}, fmt.Errorf("unsupported public key type %T", pub)
}

// KeyPair is a certificate and its private key, both PEM.
type KeyPair struct {
	// CertPEM is the certificate followed by the issuer's intermediates, if
	// any: the bundle etcd's --cert-file and --peer-cert-file expect, so a peer
	// that trusts only the root CA can verify it. For a certificate issued by
	// the root CA it is the certificate alone.
	CertPEM []byte
	// KeyPEM is the private key (PKCS#1 for RSA, SEC 1 for ECDSA).
	KeyPEM []byte
}

// Certificate parses the first certificate of CertPEM.
func (k KeyPair) Certificate() (*x509.Certificate, error) {
	certs, err := ParseCertificates(k.CertPEM)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// parseKeyPEM parses a PEM private key of any form cfssl reads.
func parseKeyPEM(keyPEM []byte) (crypto.Signer, error) {
	key, err := helpers.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	if _, err := keySpecOf(key.Public()); err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	return key, nil
}

// keyMatches reports whether key is the private half of pub.
func keyMatches(key crypto.Signer, pub crypto.PublicKey) bool {
	k, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(pub)
}
