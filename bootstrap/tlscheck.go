package bootstrap

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// memberCert is one of the node's certificate and key pairs, as the payload
// names them.
type memberCert struct {
	field, cert, key string
	usage            x509.ExtKeyUsage
}

// memberCerts are the server and peer pairs of the payload.
func memberCerts(p *spec.NodePayload) []memberCert {
	t := p.TLS
	return []memberCert{
		{"tls.serverCertFile", t.ServerCertFile, t.ServerKeyFile, x509.ExtKeyUsageServerAuth},
		{"tls.peerCertFile", t.PeerCertFile, t.PeerKeyFile, x509.ExtKeyUsageServerAuth},
	}
}

// checkCertificates fails early, naming the file, when a certificate is
// unreadable, not signed by the payload's CA, or not valid for this node.
func (a *Agent) checkCertificates(n node) error {
	t := n.payload.TLS
	caPEM, err := os.ReadFile(a.path(t.CAFile))
	if err != nil {
		return fmt.Errorf("tls.caFile: %w; the payload did not place the CA certificate", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("tls.caFile: %s holds no PEM certificate; regenerate the payload", a.path(t.CAFile))
	}
	for _, c := range memberCerts(n.payload) {
		path := a.path(c.cert)
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: %w", c.field, err)
		}
		if _, err := a.verifyMemberCert(n.payload, c, path, data, pool); err != nil {
			return err
		}
		if _, err := os.Stat(a.path(c.key)); err != nil {
			return fmt.Errorf("%s: key: %w", c.field, err)
		}
	}
	return nil
}

// verifyMemberCert checks that data (the file at path) is signed by the CA
// in pool for c's usage and valid for every address of this node.
func (a *Agent) verifyMemberCert(p *spec.NodePayload, c memberCert, path string, data []byte, pool *x509.CertPool) (*x509.Certificate, error) {
	cert, inters, err := parseChain(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w; regenerate the payload", c.field, path, err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{c.usage}, CurrentTime: a.cfg.Now()}); err != nil {
		return nil, fmt.Errorf("%s: %s is not signed by the CA in %s (%v); the payload mixes two clusters' PKI: regenerate it", c.field, path, a.path(p.TLS.CAFile), err)
	}
	for _, s := range p.Node.IPs {
		if err := cert.VerifyHostname(s); err != nil {
			return nil, fmt.Errorf("%s: %s is not valid for this node's address %s (%v); regenerate the payload for this node", c.field, path, s, err)
		}
	}
	return cert, nil
}

// parseChain reads a certificate file: the leaf, then any intermediates.
func parseChain(data []byte) (*x509.Certificate, *x509.CertPool, error) {
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, nil, err
	}
	inters := x509.NewCertPool()
	for _, c := range certs[1:] {
		inters.AddCert(c)
	}
	return certs[0], inters, nil
}
