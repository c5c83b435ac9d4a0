package rotation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"github.com/etcdboot/etcdboot/pki"
)

// probeName is the common name of the short-lived client certificates a CA
// rotation presents to see which CAs a member accepts.
const probeName = "etcdboot-ca-probe"

// probeLife bounds the probe certificates, which exist only in memory.
const probeLife = time.Hour

// caProbe is what a CA rotation observes members with: the two roots, and a
// client certificate of each (nil when that CA's key is not at hand).
type caProbe struct {
	oldRoot, newRoot *x509.Certificate
	// newWithCross is a client certificate of the new CA followed by the
	// cross-certificate; newAlone the same leaf without it.
	newWithCross, newAlone, old *tls.Certificate
}

// newCAProbe mints the probe certificates from the CAs at hand; either
// authority may be nil.
func newCAProbe(old, next *pki.Authority) (*caProbe, error) {
	p := &caProbe{}
	if old != nil {
		p.oldRoot = old.Certificate()
		c, err := probeCert(old)
		if err != nil {
			return nil, err
		}
		p.old = c
	}
	if next != nil {
		p.newRoot = next.Certificate()
		c, err := probeCert(next)
		if err != nil {
			return nil, err
		}
		p.newWithCross = c
		alone := *c
		alone.Certificate = c.Certificate[:1]
		p.newAlone = &alone
	}
	return p, nil
}

func probeCert(a *pki.Authority) (*tls.Certificate, error) {
	kp, err := a.Issue(pki.ClientRequest(probeName, nil, pki.KeySpec{}, probeLife))
	if err != nil {
		return nil, fmt.Errorf("probe certificate of %q: %w", a.Certificate().Subject, err)
	}
	c, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("probe certificate of %q: %w", a.Certificate().Subject, err)
	}
	return &c, nil
}

// observe makes new TLS handshakes with every endpoint: one to read the
// chain it serves, and one per probe certificate to see whether it is
// accepted.
func (p *caProbe) observe(ctx context.Context, endpoints []string, timeout time.Duration) []EndpointTrust {
	out := make([]EndpointTrust, 0, len(endpoints))
	for _, ep := range endpoints {
		out = append(out, p.endpoint(ctx, ep, timeout))
	}
	return out
}

func (p *caProbe) endpoint(ctx context.Context, ep string, timeout time.Duration) EndpointTrust {
	e := EndpointTrust{Endpoint: ep}
	var client []tls.Certificate
	if p.old != nil {
		client = []tls.Certificate{*p.old}
	}
	chain, _, err := fetchChain(ctx, ep, client, timeout)
	if err != nil {
		e.Error = err.Error()
		return e
	}
	e.Served = p.issuer(chain)
	e.AcceptsOld = accepts(ctx, ep, p.old, timeout)
	e.AcceptsNew = accepts(ctx, ep, p.newWithCross, timeout)
	e.AcceptsNewAlone = accepts(ctx, ep, p.newAlone, timeout)
	return e
}

// issuer says which root a served chain verifies to: the new one first,
// since a leaf of the new CA with the cross-certificate verifies to both.
func (p *caProbe) issuer(chain []*x509.Certificate) Issuer {
	inters := x509.NewCertPool()
	for _, c := range chain[1:] {
		inters.AddCert(c)
	}
	verifies := func(root *x509.Certificate) bool {
		if root == nil {
			return false
		}
		roots := x509.NewCertPool()
		roots.AddCert(root)
		_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err == nil
	}
	switch {
	case verifies(p.newRoot):
		return IssuerNew
	case verifies(p.oldRoot):
		return IssuerOld
	}
	return IssuerOther
}

// accepts reports whether ep answers an HTTP request made over a new TLS
// connection presenting cert: any HTTP response means the handshake, client
// certificate included, was accepted. With TLS 1.3 a refused client
// certificate only shows when the server's alert is read, hence the request.
func accepts(ctx context.Context, ep string, cert *tls.Certificate, timeout time.Duration) bool {
	if cert == nil {
		return false
	}
	addr, _, err := endpointHost(ep)
	if err != nil {
		return false
	}
	tr := &http.Transport{
		// The served chain is judged by issuer(), not here.
		TLSClientConfig:   &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}, InsecureSkipVerify: true},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/version", nil)
	if err != nil {
		return false
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}
