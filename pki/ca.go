package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/cloudflare/cfssl/config"
	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/initca"
	"github.com/cloudflare/cfssl/signer"
	"github.com/cloudflare/cfssl/signer/local"

	"github.com/etcdboot/etcdboot/spec"
)

// cfssl signing profile names. profileEtcd is the manual procedure's
// ca-config.json profile (usages signing, key encipherment, server auth,
// client auth) and signs server and peer certificates; client certificates
// drop server auth.
const (
	profileEtcd           = "etcd"
	profileClient         = "client"
	profileIntermediateCA = "intermediate-ca"
)

// Authority signs certificates: the root CA or a member-issuing intermediate.
// It holds the CA certificate and key as PEM and a cfssl local signer.
type Authority struct {
	cert     *x509.Certificate
	certPEM  []byte // this CA's own certificate
	chainPEM []byte // certificates a leaf presents after itself; empty for a root
	trustPEM []byte // its certificate and the other roots loaded with it
	keyPEM   []byte
	key      crypto.Signer
	signer   *local.Signer
	// constrained are the CA certificates whose name constraints bind what
	// this CA issues: its own and those loaded with it.
	constrained []*x509.Certificate
}

// NewRootCA creates a self-signed root CA with cfssl initca, the way
// `cfssl gencert -initca ca-csr.json` does. A zero key means DefaultKeySpec,
// a zero expiry spec.DefaultCertExpiry. Its signing policy is the manual
// procedure's ca-config.json: profile "etcd" with the given expiry.
func NewRootCA(commonName string, key KeySpec, expiry time.Duration) (*Authority, error) {
	return newRootCA(commonName, key, expiry, nil)
}

// newRootCA is NewRootCA taking its key from keys when it has one.
func newRootCA(commonName string, key KeySpec, expiry time.Duration, keys *KeyPool) (*Authority, error) {
	key = key.orDefault()
	if commonName == "" {
		return nil, errors.New("new root CA: common name is empty; the manual procedure uses \"etcd\"")
	}
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("new root CA %q: %w", commonName, err)
	}
	if expiry == 0 {
		expiry = spec.DefaultCertExpiry
	}
	if expiry < 0 {
		return nil, fmt.Errorf("new root CA %q: expiry %s is negative", commonName, expiry)
	}
	req := &csr.CertificateRequest{
		CN:         commonName,
		KeyRequest: key.cfssl(),
		CA:         &csr.CAConfig{Expiry: expiry.String()},
	}
	var certPEM, keyPEM []byte
	var err error
	if pooled, pooledPEM, ok, perr := keys.take(key); ok {
		if perr != nil {
			return nil, fmt.Errorf("new root CA %q: %w", commonName, perr)
		}
		// initca.New with a key made ahead: the same CSR and signing.
		certPEM, _, err = initca.NewFromSigner(req, pooled)
		keyPEM = pooledPEM
	} else {
		certPEM, _, keyPEM, err = initca.New(req)
	}
	if err != nil {
		return nil, fmt.Errorf("new root CA %q: cfssl initca: %w", commonName, err)
	}
	a, err := LoadAuthority(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("new root CA %q: %w", commonName, err)
	}
	return a, nil
}

// LoadAuthority loads a CA from its PEM certificate and key. certPEM may be a
// bundle: the CA's certificate first, then the intermediates above it; a
// self-signed root among them is dropped from the chain leaves carry.
func LoadAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	cert := certs[0]
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("load CA certificate %q: not a CA certificate (basic constraints CA:FALSE)", cert.Subject.CommonName)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA key for %q: %w", cert.Subject.CommonName, err)
	}
	if !keyMatches(key, cert.PublicKey) {
		return nil, fmt.Errorf("load CA %q: the private key does not belong to the certificate", cert.Subject.CommonName)
	}
	s, err := local.NewSigner(key, cert, signer.DefaultSigAlgo(key), signingPolicy(cert.NotAfter.Sub(cert.NotBefore)))
	if err != nil {
		return nil, fmt.Errorf("load CA %q: cfssl signer: %w", cert.Subject.CommonName, err)
	}
	a := &Authority{
		cert:        cert,
		certPEM:     encodeCertPEM(cert.Raw),
		keyPEM:      append([]byte(nil), keyPEM...),
		key:         key,
		signer:      s,
		constrained: certs,
	}
	a.trustPEM = a.CertPEM()
	for i, c := range certs {
		switch {
		case !selfSigned(c):
			a.chainPEM = append(a.chainPEM, encodeCertPEM(c.Raw)...)
		case i > 0:
			a.trustPEM = append(a.trustPEM, encodeCertPEM(c.Raw)...)
		}
	}
	return a, nil
}

// CertPEM returns the CA's own certificate, PEM.
func (a *Authority) CertPEM() []byte { return append([]byte(nil), a.certPEM...) }

// TrustPEM returns what every CA file a member, Prometheus or
// kube-apiserver trusts holds: this CA's certificate, then every other
// root loaded with it, in the order of its bundle. For a root alone it is
// CertPEM; while a CA rotation has ca.crt hold the old and the new root
// (phases a and b), it is both, so a payload generated then trusts both.
func (a *Authority) TrustPEM() []byte { return append([]byte(nil), a.trustPEM...) }

// KeyPEM returns the CA's private key, PEM.
func (a *Authority) KeyPEM() []byte { return append([]byte(nil), a.keyPEM...) }

// ChainPEM returns the certificates a leaf issued by this CA presents after
// its own: nothing for a root, the intermediate (and any above it short of the
// root) otherwise.
func (a *Authority) ChainPEM() []byte { return append([]byte(nil), a.chainPEM...) }

// Certificate returns the parsed CA certificate; callers must not modify it.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// IsRoot reports whether the CA is self-signed.
func (a *Authority) IsRoot() bool { return selfSigned(a.cert) }

// signingPolicy is the cfssl signing configuration every Authority uses. The
// expiry is only cfssl's fallback: Issue always passes an explicit, clamped
// NotAfter.
func signingPolicy(expiry time.Duration) *config.Signing {
	// A whitelist keeps a CSR from smuggling in CA:TRUE or extensions: only
	// the subject and key are taken from it; SANs come from SignRequest.Hosts.
	csrFields := &config.CSRWhitelist{Subject: true, PublicKeyAlgorithm: true, PublicKey: true, SignatureAlgorithm: true}
	profile := func(usages ...string) *config.SigningProfile {
		return &config.SigningProfile{
			Usage:        usages,
			Expiry:       expiry,
			ExpiryString: expiry.String(),
			CSRWhitelist: csrFields,
		}
	}
	serverClient := []string{"signing", "key encipherment", "server auth", "client auth"}
	inter := profile("cert sign", "crl sign")
	inter.CAConstraint = config.CAConstraint{IsCA: true, MaxPathLen: 0, MaxPathLenZero: true}
	inter.ExtensionWhitelist = map[string]bool{oidNameConstraints.String(): true}
	return &config.Signing{
		Default: profile(serverClient...),
		Profiles: map[string]*config.SigningProfile{
			profileEtcd:           profile(serverClient...),
			profileClient:         profile("signing", "key encipherment", "client auth"),
			profileIntermediateCA: inter,
		},
	}
}

// notAfter is the end of validity of a certificate that starts at notBefore
// and asks for expiry: never beyond the CA's own NotAfter, since no verifier
// accepts a certificate past its issuer's life anyway.
func (a *Authority) notAfter(notBefore time.Time, expiry time.Duration) (time.Time, error) {
	end := notBefore.Add(expiry)
	if end.After(a.cert.NotAfter) {
		end = a.cert.NotAfter
	}
	if !end.After(time.Now()) {
		return time.Time{}, fmt.Errorf("CA %q expired at %s; make a new one (--rotate)", a.cert.Subject.CommonName, a.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return end, nil
}

// notBefore backdates like cfssl does, to absorb clock skew between the
// generator and the members.
func notBefore() time.Time { return time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute) }
