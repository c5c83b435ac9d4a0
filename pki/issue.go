package pki

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/signer"

	"github.com/etcdboot/etcdboot/spec"
)

// Kind is what a certificate is for; it decides the extended key usages.
// The zero Kind is invalid, so a Request that forgets it is refused.
type Kind int

// The kinds of certificate etcdboot issues.
const (
	// Server is a member's client-facing (2379) certificate: server auth, and
	// client auth because etcd also dials its own endpoints with it (grpc
	// gateway, grpc proxy), as etcd's TLS guide issues it.
	Server Kind = iota + 1
	// Peer is a member's peer (2380) certificate: server auth and client auth,
	// since every member is both ends of peer connections.
	Peer
	// Client is a client certificate (etcdctl, health checks, kube-apiserver):
	// client auth only.
	Client
)

// String returns "server", "peer" or "client".
func (k Kind) String() string {
	switch k {
	case Server:
		return "server"
	case Peer:
		return "peer"
	case Client:
		return "client"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ExtKeyUsages returns the extended key usages a certificate of kind k carries.
func (k Kind) ExtKeyUsages() []x509.ExtKeyUsage {
	switch k {
	case Server, Peer:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	case Client:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return nil
}

// profile is the cfssl signing profile name for kind k.
func (k Kind) profile() string {
	if k == Client {
		return profileClient
	}
	return profileEtcd
}

// Request describes one certificate to issue.
type Request struct {
	CommonName string
	Kind       Kind
	// DNSNames and IPs are the subject alternative names, exactly.
	DNSNames []string
	IPs      []net.IP
	// Organization is the subject's O; kube-apiserver's client certificate
	// carries "system:masters" like kubeadm's.
	Organization []string
	// Key is the key to generate; zero means DefaultKeySpec.
	Key KeySpec
	// Expiry is the certificate's lifetime, clamped to the issuer's NotAfter;
	// zero means spec.DefaultCertExpiry.
	Expiry time.Duration
}

// commonProblems are the problems any request can have: no common name,
// a key that cannot be made, a negative lifetime.
func commonProblems(commonName string, key KeySpec, expiry time.Duration) []error {
	var errs []error
	if commonName == "" {
		errs = append(errs, errors.New("common name is empty"))
	}
	if err := key.Validate(); err != nil {
		errs = append(errs, err)
	}
	if expiry < 0 {
		errs = append(errs, fmt.Errorf("expiry %s is negative", expiry))
	}
	return errs
}

// normalize fills defaults and reports every problem with r at once.
func (r Request) normalize() (Request, error) {
	r.Key, r.Expiry = r.Key.orDefault(), cmp.Or(r.Expiry, spec.DefaultCertExpiry)
	errs := commonProblems(r.CommonName, r.Key, r.Expiry)
	switch r.Kind {
	case Server, Peer, Client:
	default:
		errs = append(errs, fmt.Errorf("kind %v is not server, peer or client", r.Kind))
	}
	if (r.Kind == Server || r.Kind == Peer) && len(r.DNSNames) == 0 && len(r.IPs) == 0 {
		errs = append(errs, fmt.Errorf("a %v certificate needs at least one DNS name or IP", r.Kind))
	}
	for _, name := range r.DNSNames {
		if err := checkDNSName(name); err != nil {
			errs = append(errs, err)
		}
	}
	for i, ip := range r.IPs {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			errs = append(errs, fmt.Errorf("IP #%d is not an IPv4 or IPv6 address", i+1))
		}
	}
	return r, errors.Join(errs...)
}

// checkDNSName refuses what cfssl's host parsing would turn into another SAN
// type (an IP, an e-mail address, a URI) or what no resolver could ask for.
func checkDNSName(name string) error {
	if name == "" {
		return errors.New("DNS name is empty")
	}
	if net.ParseIP(name) != nil {
		return fmt.Errorf("DNS name %q is an IP address; put it in IPs", name)
	}
	if len(name) > 253 {
		return fmt.Errorf("DNS name %q is longer than 253 characters", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_':
		case c == '*' && i == 0 && len(name) > 2 && name[1] == '.':
		default:
			return fmt.Errorf("DNS name %q: character %q is not allowed in a host name", name, c)
		}
	}
	return nil
}

// hosts returns the SANs in cfssl's form: DNS names, then IPs, each once.
func (r Request) hosts() []string {
	seen := map[string]bool{}
	var hosts []string
	add := func(h string) {
		if !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	for _, n := range r.DNSNames {
		add(n)
	}
	for _, ip := range r.IPs {
		add(ip.String())
	}
	return hosts
}

func (r Request) cfssl() *csr.CertificateRequest {
	names := make([]csr.Name, 0, len(r.Organization))
	for _, o := range r.Organization {
		names = append(names, csr.Name{O: o})
	}
	return &csr.CertificateRequest{CN: r.CommonName, Names: names, Hosts: r.hosts(), KeyRequest: r.Key.cfssl()}
}

// Issue generates a key and a certificate for req, through cfssl's
// csr.ParseRequest and local signer with the profile of req.Kind.
func (a *Authority) Issue(req Request) (KeyPair, error) {
	req, err := a.check(req)
	if err != nil {
		return KeyPair{}, err
	}
	csrPEM, keyPEM, err := csr.ParseRequest(req.cfssl())
	if err != nil {
		return KeyPair{}, fmt.Errorf("issue %v certificate %q: cfssl key and CSR: %w", req.Kind, req.CommonName, err)
	}
	certPEM, err := a.sign(req, csrPEM)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// IssueWithKey issues a certificate for req keeping an existing private key,
// so regenerating after a SAN change does not change the key. req.Key is
// ignored: the key is what it is.
func (a *Authority) IssueWithKey(req Request, keyPEM []byte) (KeyPair, error) {
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return KeyPair{}, fmt.Errorf("issue %v certificate %q: %w", req.Kind, req.CommonName, err)
	}
	if req.Key, err = keySpecOf(key.Public()); err != nil {
		return KeyPair{}, fmt.Errorf("issue %v certificate %q: %w", req.Kind, req.CommonName, err)
	}
	req, err = a.check(req)
	if err != nil {
		return KeyPair{}, err
	}
	csrPEM, err := csr.Generate(key, req.cfssl())
	if err != nil {
		return KeyPair{}, fmt.Errorf("issue %v certificate %q: cfssl CSR: %w", req.Kind, req.CommonName, err)
	}
	certPEM, err := a.sign(req, csrPEM)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{CertPEM: certPEM, KeyPEM: append([]byte(nil), keyPEM...)}, nil
}

// check normalizes req and refuses names the CA may not certify.
func (a *Authority) check(req Request) (Request, error) {
	req, err := req.normalize()
	if err != nil {
		return req, fmt.Errorf("issue %v certificate %q: %w", req.Kind, req.CommonName, err)
	}
	if err := a.Permits(req.DNSNames, req.IPs); err != nil {
		return req, fmt.Errorf("issue %v certificate %q: %w", req.Kind, req.CommonName, err)
	}
	return req, nil
}

// sign has cfssl sign csrPEM for req and returns the certificate followed by
// the issuer's chain.
func (a *Authority) sign(req Request, csrPEM []byte) ([]byte, error) {
	start := notBefore()
	end, err := a.notAfter(start, req.Expiry)
	if err != nil {
		return nil, fmt.Errorf("issue %v certificate %q: %w", req.Kind, req.CommonName, err)
	}
	certPEM, err := a.signer.Sign(signer.SignRequest{
		Hosts:     req.hosts(),
		Request:   string(csrPEM),
		Profile:   req.Kind.profile(),
		NotBefore: start,
		NotAfter:  end,
	})
	if err != nil {
		return nil, fmt.Errorf("issue %v certificate %q: cfssl sign: %w", req.Kind, req.CommonName, err)
	}
	return append(certPEM, a.chainPEM...), nil
}
