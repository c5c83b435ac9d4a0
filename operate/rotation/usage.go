package rotation

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/etcdboot/etcdboot/pki"
)

// Certificate kinds, as Certificate.Kind names them.
const (
	KindCA           = "ca"
	KindIntermediate = "intermediate"
	KindServer       = "server"
	KindPeer         = "peer"
	KindClient       = "client"
	KindLeaf         = "leaf"
)

// kindOf says what a certificate is for: CAs by their basic constraints, a
// served leaf is a server, files by etcdboot's names (<member>-server,
// <member>-peer, the client certificates; kubeadm's server, peer,
// *-client), anything else by its extended key usages.
func kindOf(c *x509.Certificate, name string, pos int, served bool) string {
	switch {
	case c.IsCA && isSelfSigned(c):
		return KindCA
	case c.IsCA:
		return KindIntermediate
	case served && pos == 0:
		return KindServer
	case name == "peer" || strings.HasSuffix(name, "-peer"):
		return KindPeer
	case name == "server" || strings.HasSuffix(name, "-server"):
		return KindServer
	case name == pki.AdminClient || name == pki.HealthcheckClient || name == pki.APIServerClient || strings.HasSuffix(name, "-client"):
		return KindClient
	case slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth):
		return KindServer
	case slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth):
		return KindClient
	}
	return KindLeaf
}

func isSelfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// checkKeyUsage reports what a certificate of kind lacks for its role. etcd
// dials its own client endpoints with its server certificate (grpc gateway)
// and both ends of a peer connection present the peer certificate, so both
// need server and client auth, as etcdboot issues them.
func checkKeyUsage(c *x509.Certificate, kind string) error {
	var missing []string
	if kind == KindCA || kind == KindIntermediate {
		if !c.BasicConstraintsValid {
			missing = append(missing, "basic constraints")
		}
		if c.KeyUsage&x509.KeyUsageCertSign == 0 {
			missing = append(missing, "cert sign")
		}
	} else {
		missing = leafUsage(c, kind)
	}
	if err := missingError(missing); err != nil {
		return fmt.Errorf("%s certificate %w", kind, err)
	}
	return nil
}

// leafUsage lists what a leaf of kind lacks.
func leafUsage(c *x509.Certificate, kind string) []string {
	var missing []string
	// With no KeyUsage extension every usage is allowed.
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		_, isRSA := c.PublicKey.(*rsa.PublicKey)
		if !isRSA || c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
			missing = append(missing, "digital signature")
		}
	}
	var want []x509.ExtKeyUsage
	switch kind {
	case KindServer, KindPeer:
		want = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	case KindClient:
		want = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		for _, u := range want {
			if !slices.Contains(c.ExtKeyUsage, u) {
				missing = append(missing, ekuName(u))
			}
		}
	}
	return missing
}

func missingError(missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	return errors.New("lacks " + strings.Join(missing, ", "))
}

func ekuName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "server auth"
	case x509.ExtKeyUsageClientAuth:
		return "client auth"
	}
	return fmt.Sprintf("extended key usage %d", u)
}
