package pki

import (
	"crypto/x509"
	"fmt"
)

// VerifyChain verifies a PEM leaf certificate against PEM roots with
// crypto/x509, for the given extended key usage (x509.ExtKeyUsageAny for
// any), enforcing validity periods, path length and name constraints.
// Certificates after the leaf in leafPEM (a bundle) are used as intermediates
// along with intermediates, which may be empty.
func VerifyChain(leafPEM []byte, roots []byte, intermediates []byte, usage x509.ExtKeyUsage) error {
	leafCerts, err := ParseCertificates(leafPEM)
	if err != nil {
		return fmt.Errorf("verify chain: leaf: %w", err)
	}
	rootCerts, err := ParseCertificates(roots)
	if err != nil {
		return fmt.Errorf("verify chain: roots: %w", err)
	}
	rootPool := x509.NewCertPool()
	for _, c := range rootCerts {
		rootPool.AddCert(c)
	}
	interPool := x509.NewCertPool()
	for _, c := range leafCerts[1:] {
		interPool.AddCert(c)
	}
	if len(intermediates) > 0 {
		interCerts, err := ParseCertificates(intermediates)
		if err != nil {
			return fmt.Errorf("verify chain: intermediates: %w", err)
		}
		for _, c := range interCerts {
			interPool.AddCert(c)
		}
	}
	leaf := leafCerts[0]
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         rootPool,
		Intermediates: interPool,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	}); err != nil {
		return fmt.Errorf("verify chain of %q: %w", leaf.Subject.CommonName, err)
	}
	return nil
}
