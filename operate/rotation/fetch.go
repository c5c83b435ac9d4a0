package rotation

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// clientCertificate loads the certificate presented to endpoints, if any.
func clientCertificate(certFile, keyFile string) ([]tls.Certificate, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("a client certificate needs both --cert and --key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load client certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return []tls.Certificate{cert}, nil
}

// endpoint fetches the chain ep serves and checks it.
func (c checker) endpoint(ctx context.Context, ep string, client []tls.Certificate, timeout time.Duration) []Certificate {
	chain, host, err := fetchChain(ctx, ep, client, timeout)
	if err != nil {
		return []Certificate{{Source: ep, Error: err.Error()}}
	}
	return c.chain(ep, chain, "", host)
}

// fetchChain does a TLS handshake with ep and returns the certificates it
// served, in the order served. crypto/tls does not verify them here: Check
// verifies them itself, to report why a chain fails rather than only that the
// handshake did, and to read the chain of a server that goes on to refuse
// our client certificate.
func fetchChain(ctx context.Context, ep string, client []tls.Certificate, timeout time.Duration) ([]*x509.Certificate, string, error) {
	addr, host, err := endpointHost(ep)
	if err != nil {
		return nil, "", err
	}
	var served [][]byte
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: client,
		// The chain is verified by Check, against the cluster CA.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			served = raw
			return nil
		},
	}
	if net.ParseIP(host) == nil {
		conf.ServerName = host
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := tls.Dialer{Config: conf}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if conn != nil {
		conn.Close()
	}
	if len(served) == 0 {
		if err == nil {
			err = errors.New("the server sent no certificate")
		}
		return nil, host, fmt.Errorf("fetch certificate chain of %s: %w", ep, err)
	}
	chain := make([]*x509.Certificate, len(served))
	for i, der := range served {
		if chain[i], err = x509.ParseCertificate(der); err != nil {
			return nil, host, fmt.Errorf("certificate %d served by %s: %w", i+1, ep, err)
		}
	}
	return chain, host, nil
}

// endpointHost returns the dial address and the host name the leaf must be
// valid for, from "https://host:port" or "host:port".
func endpointHost(ep string) (addr, host string, err error) {
	s := ep
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	s = strings.TrimSuffix(s, "/")
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return "", "", fmt.Errorf("endpoint %q is not host:port or https://host:port", ep)
	}
	return net.JoinHostPort(host, port), host, nil
}
