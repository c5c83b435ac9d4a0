package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

const clusterDomain = "etcd.example.internal"

func newTestIntermediate(t *testing.T, root *Authority) *Authority {
	t.Helper()
	inter, err := root.NewIntermediate(IntermediateRequest{
		CommonName:          "etcd member issuer",
		PermittedDNSDomains: []string{clusterDomain},
		PermittedIPRanges:   []*net.IPNet{mustCIDR(t, "10.123.0.0/24"), mustCIDR(t, "fd12:3456::/64")},
		Expiry:              24 * time.Hour,
	})
	if err != nil {
		t.Fatalf("NewIntermediate: %v", err)
	}
	return inter
}

func TestIntermediateCarriesCriticalNameConstraints(t *testing.T) {
	for _, key := range []KeySpec{ecdsa256, rsa2048} {
		t.Run(key.String(), func(t *testing.T) {
			root := mustRoot(t, key)
			inter := newTestIntermediate(t, root)
			c := inter.Certificate()

			if !c.IsCA || c.MaxPathLen != 0 || !c.MaxPathLenZero {
				t.Errorf("IsCA=%v MaxPathLen=%d MaxPathLenZero=%v; want a CA with path length 0", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
			}
			if c.CheckSignatureFrom(root.Certificate()) != nil || inter.IsRoot() {
				t.Error("intermediate is not signed by the root")
			}
			if got := c.NotAfter.Sub(c.NotBefore); got != 24*time.Hour {
				t.Errorf("lifetime = %s, want 24h", got)
			}
			if !c.PermittedDNSDomainsCritical {
				t.Error("name constraints are not critical")
			}
			var critical bool
			for _, ext := range c.Extensions {
				if ext.Id.Equal(oidNameConstraints) {
					critical = ext.Critical
				}
			}
			if !critical {
				t.Error("no critical id-ce-nameConstraints extension")
			}
			if want := []string{clusterDomain, "localhost"}; !slices.Equal(c.PermittedDNSDomains, want) {
				t.Errorf("PermittedDNSDomains = %v, want %v", c.PermittedDNSDomains, want)
			}
			var ranges []string
			for _, r := range c.PermittedIPRanges {
				ranges = append(ranges, r.String())
			}
			if want := []string{"10.123.0.0/24", "fd12:3456::/64", "127.0.0.0/8", "::1/128"}; !slices.Equal(ranges, want) {
				t.Errorf("PermittedIPRanges = %v, want %v", ranges, want)
			}
			if len(c.ExcludedDNSDomains)+len(c.ExcludedIPRanges) != 0 {
				t.Error("unexpected excluded subtrees")
			}

			out, ok := openssl(t, "x509", "-noout", "-text", "-in", writeTemp(t, "inter.pem", inter.CertPEM()))
			if !ok {
				t.Fatalf("openssl x509 -text: %s", out)
			}
			for _, want := range []string{
				"X509v3 Name Constraints: critical",
				"Permitted:",
				"DNS:" + clusterDomain,
				"DNS:localhost",
				"IP:10.123.0.0/255.255.255.0",
				"IP:127.0.0.0/255.0.0.0",
				"IP:FD12:3456:0:0:0:0:0:0/FFFF:FFFF:FFFF:FFFF:0:0:0:0",
				"IP:0:0:0:0:0:0:0:1/FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF",
				"CA:TRUE, pathlen:0",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("openssl x509 -text lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestIntermediateMintsMemberCertificatesThatVerify(t *testing.T) {
	root := mustRoot(t, ecdsa256)
	inter := newTestIntermediate(t, root)
	// An agent on a fresh VM: name derived from its IP, under the domain.
	fqdn := "etcd-10-123-0-7." + clusterDomain
	server, peer := MemberRequests(fqdn, "", []net.IP{net.ParseIP("10.123.0.7"), net.ParseIP("fd12:3456::7")}, []string{clusterDomain}, ecdsa256, 0)
	for _, req := range []Request{server, peer} {
		t.Run(req.Kind.String(), func(t *testing.T) {
			kp, err := inter.Issue(req)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			c := mustCert(t, kp)
			if !c.NotAfter.Equal(inter.Certificate().NotAfter) {
				t.Errorf("member certificate NotAfter %s, want the intermediate's %s", c.NotAfter, inter.Certificate().NotAfter)
			}
			// The bundle carries the intermediate: a peer trusting only the root verifies it.
			if err := VerifyChain(kp.CertPEM, root.CertPEM(), nil, x509.ExtKeyUsageServerAuth); err != nil {
				t.Errorf("crypto/x509 rejects the bundle: %v", err)
			}
			if err := VerifyChain(kp.CertPEM[:len(kp.CertPEM)-len(inter.ChainPEM())], root.CertPEM(), inter.CertPEM(), x509.ExtKeyUsageClientAuth); err != nil {
				t.Errorf("crypto/x509 rejects leaf + separate intermediate: %v", err)
			}
			if out, ok := opensslVerify(t, root.CertPEM(), inter.CertPEM(), kp.CertPEM, "sslserver"); !ok {
				t.Errorf("openssl verify rejects it:\n%s", out)
			}
			if out, ok := opensslVerify(t, root.CertPEM(), nil, kp.CertPEM, ""); ok {
				t.Errorf("openssl verifies without the intermediate; the test cannot tell anything:\n%s", out)
			}
		})
	}
}

// mintDirect signs a leaf with the intermediate's key through crypto/x509,
// bypassing Issue's own check, so the verifiers alone decide.
func mintDirect(t *testing.T, inter *Authority, dns []string, ips []net.IP) []byte {
	t.Helper()
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "member"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter.Certificate(), &leafKey.PublicKey, inter.key)
	if err != nil {
		t.Fatal(err)
	}
	return encodeCertPEM(der)
}

func TestNameConstraintsAreEnforcedByVerifiers(t *testing.T) {
	root := mustRoot(t, ecdsa256)
	inter := newTestIntermediate(t, root)
	inDomain := "etcd-10-123-0-7." + clusterDomain
	tests := []struct {
		name   string
		dns    []string
		ips    []net.IP
		accept bool
	}{
		{"inside domain and subnet", []string{inDomain, "localhost"}, []net.IP{net.ParseIP("10.123.0.7"), net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, true},
		{"IPv6 inside subnet", []string{inDomain}, []net.IP{net.ParseIP("fd12:3456::7")}, true},
		{"IP outside the subnets", []string{inDomain}, []net.IP{net.ParseIP("10.124.0.7")}, false},
		{"IPv6 outside the subnets", []string{inDomain}, []net.IP{net.ParseIP("fd12:3457::7")}, false},
		{"DNS name outside the domain", []string{"etcd.evil.example.com"}, []net.IP{net.ParseIP("10.123.0.7")}, false},
		{"bare member name", []string{"etcd-10-123-0-7"}, []net.IP{net.ParseIP("10.123.0.7")}, false},
		{"suffix without a dot boundary", []string{"x" + clusterDomain}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf := mintDirect(t, inter, tt.dns, tt.ips)

			err := VerifyChain(leaf, root.CertPEM(), inter.CertPEM(), x509.ExtKeyUsageServerAuth)
			if tt.accept && err != nil {
				t.Errorf("crypto/x509 rejects a permitted certificate: %v", err)
			}
			if !tt.accept {
				var inv x509.CertificateInvalidError
				if !errors.As(err, &inv) || inv.Reason != x509.CANotAuthorizedForThisName {
					t.Errorf("crypto/x509 error = %v, want CANotAuthorizedForThisName", err)
				}
			}

			out, ok := opensslVerify(t, root.CertPEM(), inter.CertPEM(), leaf, "")
			if ok != tt.accept {
				t.Errorf("openssl verify accepted = %v, want %v:\n%s", ok, tt.accept, out)
			}
			if !tt.accept && !strings.Contains(out, "permitted subtree violation") {
				t.Errorf("openssl rejects for another reason than the name constraints:\n%s", out)
			}

			// Issue agrees with the verifiers and refuses before signing.
			_, err = inter.Issue(Request{CommonName: "member", Kind: Server, DNSNames: tt.dns, IPs: tt.ips})
			if tt.accept != (err == nil) || (!tt.accept && !errors.Is(err, ErrNameNotPermitted)) {
				t.Errorf("Issue error = %v, want accepted = %v", err, tt.accept)
			}
		})
	}
}

func TestIntermediateCannotIssueCAs(t *testing.T) {
	root := mustRoot(t, ecdsa256)
	inter := newTestIntermediate(t, root)
	_, err := inter.NewIntermediate(IntermediateRequest{CommonName: "sub", PermittedDNSDomains: []string{clusterDomain}})
	if err == nil || !strings.Contains(err.Error(), "path length 0") {
		t.Fatalf("NewIntermediate from an intermediate: error = %v, want a path length refusal", err)
	}
}

func TestNewIntermediateRejectsBadRequests(t *testing.T) {
	root := mustRoot(t, ecdsa256)
	tests := []struct {
		name string
		req  IntermediateRequest
		want string
	}{
		{"no CN", IntermediateRequest{PermittedDNSDomains: []string{clusterDomain}}, "common name is empty"},
		{"wildcard domain", IntermediateRequest{CommonName: "i", PermittedDNSDomains: []string{"*.example.com"}}, "not a domain name"},
		{"nil range", IntermediateRequest{CommonName: "i", PermittedIPRanges: []*net.IPNet{nil}}, "IP range is nil"},
		{"non-prefix mask", IntermediateRequest{CommonName: "i", PermittedIPRanges: []*net.IPNet{{IP: net.IPv4(10, 0, 0, 0), Mask: net.IPv4Mask(255, 0, 255, 0)}}}, "not a prefix length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := root.NewIntermediate(tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadAuthorityOfIntermediateKeepsChainAndConstraints(t *testing.T) {
	root := mustRoot(t, ecdsa256)
	inter := newTestIntermediate(t, root)
	// What an agent does on boot: load IssuerCertFile and IssuerKeyFile.
	loaded, err := LoadAuthority(inter.CertPEM(), inter.KeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	if string(loaded.ChainPEM()) != string(inter.CertPEM()) {
		t.Error("a loaded intermediate must put itself in the chain of its leaves")
	}
	if _, err := loaded.Issue(Request{CommonName: "m", Kind: Peer, IPs: []net.IP{net.ParseIP("192.168.0.1")}}); !errors.Is(err, ErrNameNotPermitted) {
		t.Errorf("loaded intermediate issues outside its constraints: %v", err)
	}
}
