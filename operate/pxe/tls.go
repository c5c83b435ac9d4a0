package pxe

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"

	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// serveCertName is the server certificate's base name in Dir/pki: serve.crt
// and serve.key, beside the members' certificates.
const serveCertName = "serve"

// servingTLS issues (or keeps) the server's certificate from the generator's
// CA and returns the TLS configuration that presents it, at the minimum TLS
// version the tree's payloads carry (TLS 1.3 unless tls.minVersion allows
// TLS 1.2, which iPXE needs: it has no TLS 1.3).
func (s *Server) servingTLS() (*tls.Config, error) {
	dnsNames, ips, err := certNames(s.cfg.Listen, s.cfg.BaseURL, s.cfg.Hostnames)
	if err != nil {
		return nil, err
	}
	dir := pki.Dir{Path: filepath.Join(s.cfg.Dir, "pki")}
	certPEM, err := os.ReadFile(dir.CertPath("ca"))
	if err != nil {
		return nil, fmt.Errorf("TLS needs the generator's CA: %w; run etcdboot generate first", err)
	}
	keyPEM, err := os.ReadFile(dir.KeyPath("ca"))
	if err != nil {
		return nil, fmt.Errorf("TLS needs the generator's CA key: %w", err)
	}
	ca, err := pki.LoadAuthority(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", dir.CertPath("ca"), err)
	}
	kp, err := dir.EnsureCert(ca, serveCertName, pki.Request{
		CommonName: "etcdboot-serve",
		Kind:       pki.Server,
		DNSNames:   dnsNames,
		IPs:        ips,
	}, false)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("server certificate %s: %w", dir.CertPath(serveCertName), err)
	}
	conf, err := handshakeConfig(cert, s.Snapshot().tlsMinVersion)
	if err != nil {
		return nil, err
	}
	// Each handshake takes the minimum of the snapshot being served, so a
	// tree regenerated with another tls.minVersion applies at its reload.
	conf.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return handshakeConfig(cert, s.Snapshot().tlsMinVersion)
	}
	s.log.Info("serving TLS", "cert", dir.CertPath(serveCertName), "dns", dnsNames, "ips", ips, "min_version", s.Snapshot().tlsMinVersion)
	return conf, nil
}

// handshakeConfig presents cert with the cluster's minimum TLS version and,
// when that is TLS 1.2, only its ECDHE+AEAD suites (spec.ServerTLS).
func handshakeConfig(cert tls.Certificate, minVersion string) (*tls.Config, error) {
	version, suites, err := spec.ServerTLS(minVersion)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	return &tls.Config{MinVersion: version, CipherSuites: suites, Certificates: []tls.Certificate{cert}}, nil
}

// certNames collects the certificate's subject alternative names: the
// listen host (unless it is a wildcard address), BaseURL's host and the
// extra hostnames; each is an IP or a DNS name.
func certNames(listen, baseURL string, hostnames []string) (dnsNames []string, ips []net.IP, err error) {
	var hosts []string
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, h)
		}
	}
	if baseURL != "" {
		if u, err := url.Parse(baseURL); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
	}
	hosts = append(hosts, hostnames...)
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
		} else if !slices.Contains(dnsNames, h) {
			dnsNames = append(dnsNames, h)
		}
	}
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, nil, errors.New("TLS needs a name for the certificate: listen on a specific address, or pass --hostname or --base-url")
	}
	return dnsNames, ips, nil
}
