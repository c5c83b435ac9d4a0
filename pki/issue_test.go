package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIssuedCertificatesVerifyWithUsagesOfTheirKind(t *testing.T) {
	ips := []net.IP{net.ParseIP("192.168.2.51")}
	for _, key := range []KeySpec{ecdsa256, rsa2048} {
		ca := mustRoot(t, key)
		server, peer := MemberRequests("etcd1", "etcd1.example.internal", ips, nil, key, 24*time.Hour)
		client := ClientRequest(APIServerClient, []string{APIServerOrganization}, key, 24*time.Hour)
		tests := []struct {
			req           Request
			wantEKU       []x509.ExtKeyUsage
			serverAuthOK  bool
			opensslPurpos []string // purposes openssl must accept
		}{
			{server, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, true, []string{"sslserver", "sslclient"}},
			{peer, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, true, []string{"sslserver", "sslclient"}},
			{client, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false, []string{"sslclient"}},
		}
		for _, tt := range tests {
			t.Run(key.String()+"/"+tt.req.Kind.String(), func(t *testing.T) {
				kp, err := ca.Issue(tt.req)
				if err != nil {
					t.Fatalf("Issue: %v", err)
				}
				c := mustCert(t, kp)
				if c.IsCA {
					t.Error("leaf is a CA")
				}
				if got, _ := keySpecOf(c.PublicKey); got != key {
					t.Errorf("leaf key = %v, want %v", got, key)
				}
				if !slices.Equal(c.ExtKeyUsage, tt.wantEKU) {
					t.Errorf("ExtKeyUsage = %v, want %v", c.ExtKeyUsage, tt.wantEKU)
				}
				if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; c.KeyUsage != want {
					t.Errorf("KeyUsage = %b, want digital signature|key encipherment", c.KeyUsage)
				}
				if !slices.Equal(c.DNSNames, tt.req.DNSNames) {
					t.Errorf("DNSNames = %v, want exactly %v", c.DNSNames, tt.req.DNSNames)
				}
				if !slices.Equal(ipStrings(c.IPAddresses), ipStrings(tt.req.IPs)) {
					t.Errorf("IPs = %v, want exactly %v", c.IPAddresses, tt.req.IPs)
				}
				if c.Subject.CommonName != tt.req.CommonName || !slices.Equal(c.Subject.Organization, tt.req.Organization) {
					t.Errorf("subject = %v, want CN=%s O=%v", c.Subject, tt.req.CommonName, tt.req.Organization)
				}
				for _, eku := range tt.wantEKU {
					if err := VerifyChain(kp.CertPEM, ca.CertPEM(), nil, eku); err != nil {
						t.Errorf("crypto/x509 rejects the chain for %v: %v", eku, err)
					}
				}
				err = VerifyChain(kp.CertPEM, ca.CertPEM(), nil, x509.ExtKeyUsageServerAuth)
				if (err == nil) != tt.serverAuthOK {
					t.Errorf("server-auth verification error = %v, want accepted = %v", err, tt.serverAuthOK)
				}
				for _, p := range tt.opensslPurpos {
					if out, ok := opensslVerify(t, ca.CertPEM(), nil, kp.CertPEM, p); !ok {
						t.Errorf("openssl verify -purpose %s rejects it:\n%s", p, out)
					}
				}
				if !tt.serverAuthOK {
					if out, ok := opensslVerify(t, ca.CertPEM(), nil, kp.CertPEM, "sslserver"); ok {
						t.Errorf("openssl accepts a client certificate as a TLS server:\n%s", out)
					}
				}
				// Another CA's certificate must not verify: the checks above can fail.
				other := mustRoot(t, key)
				if err := VerifyChain(kp.CertPEM, other.CertPEM(), nil, x509.ExtKeyUsageClientAuth); err == nil {
					t.Error("crypto/x509 accepts the chain against an unrelated CA")
				}
				if out, ok := opensslVerify(t, other.CertPEM(), nil, kp.CertPEM, ""); ok {
					t.Errorf("openssl accepts the chain against an unrelated CA:\n%s", out)
				}
			})
		}
	}
}

func TestIssueClampsExpiryToIssuer(t *testing.T) {
	ca, err := NewRootCA("etcd", ecdsa256, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		expiry  time.Duration
		clamped bool
	}{
		{"shorter than the CA is honoured", time.Hour, false},
		{"longer than the CA ends with the CA", 10 * 365 * 24 * time.Hour, true},
		{"zero (default 5 years) ends with the CA", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp, err := ca.Issue(ClientRequest("admin", nil, ecdsa256, tt.expiry))
			if err != nil {
				t.Fatal(err)
			}
			c := mustCert(t, kp)
			if tt.clamped {
				if !c.NotAfter.Equal(ca.Certificate().NotAfter) {
					t.Errorf("NotAfter = %s, want the CA's %s", c.NotAfter, ca.Certificate().NotAfter)
				}
			} else if got := c.NotAfter.Sub(c.NotBefore); got != tt.expiry {
				t.Errorf("lifetime = %s, want %s", got, tt.expiry)
			}
			if c.NotAfter.After(ca.Certificate().NotAfter) {
				t.Errorf("leaf outlives its CA: %s > %s", c.NotAfter, ca.Certificate().NotAfter)
			}
		})
	}
}

func TestIssueWithKeyKeepsTheKey(t *testing.T) {
	ca := mustRoot(t, ecdsa256)
	server, _ := MemberRequests("etcd1", "", []net.IP{net.ParseIP("10.0.0.1")}, nil, ecdsa256, time.Hour)
	first, err := ca.Issue(server)
	if err != nil {
		t.Fatal(err)
	}
	server.IPs = append(server.IPs, net.ParseIP("10.0.0.2"))
	second, err := ca.IssueWithKey(server, first.KeyPEM)
	if err != nil {
		t.Fatalf("IssueWithKey: %v", err)
	}
	if string(second.KeyPEM) != string(first.KeyPEM) {
		t.Error("key changed")
	}
	a, b := mustCert(t, first), mustCert(t, second)
	if !a.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(b.PublicKey) {
		t.Error("reissued certificate carries another public key")
	}
	if !slices.Contains(ipStrings(b.IPAddresses), "10.0.0.2") {
		t.Errorf("reissued certificate lacks the new SAN: %v", b.IPAddresses)
	}
	if _, err := ca.IssueWithKey(server, []byte("junk")); err == nil || !strings.Contains(err.Error(), "parse private key") {
		t.Errorf("IssueWithKey(junk) error = %v", err)
	}
}

func TestIssueRejectsBadRequests(t *testing.T) {
	ca := mustRoot(t, ecdsa256)
	ok := Request{CommonName: "etcd1", Kind: Server, DNSNames: []string{"etcd1"}}
	tests := []struct {
		name   string
		change func(*Request)
		want   string
	}{
		{"no common name", func(r *Request) { r.CommonName = "" }, "common name is empty"},
		{"no kind", func(r *Request) { r.Kind = 0 }, "not server, peer or client"},
		{"server without SANs", func(r *Request) { r.DNSNames = nil }, "needs at least one DNS name or IP"},
		{"IP in DNS names", func(r *Request) { r.DNSNames = []string{"10.0.0.1"} }, "put it in IPs"},
		{"e-mail in DNS names", func(r *Request) { r.DNSNames = []string{"root@etcd1"} }, "not allowed in a host name"},
		{"URI in DNS names", func(r *Request) { r.DNSNames = []string{"https://etcd1"} }, "not allowed in a host name"},
		{"empty DNS name", func(r *Request) { r.DNSNames = []string{""} }, "DNS name is empty"},
		{"broken IP", func(r *Request) { r.IPs = []net.IP{{1, 2, 3}} }, "not an IPv4 or IPv6 address"},
		{"bad key", func(r *Request) { r.Key = KeySpec{"rsa", 512} }, "RSA key size 512"},
		{"negative expiry", func(r *Request) { r.Expiry = -time.Second }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ok
			tt.change(&req)
			_, err := ca.Issue(req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Issue error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := ca.Issue(ok); err != nil {
		t.Fatalf("the unchanged request must be valid: %v", err)
	}
}

func TestMemberRequestsCarryEveryNameOnce(t *testing.T) {
	ips := []net.IP{net.ParseIP("192.168.2.51"), net.ParseIP("fd00::51"), net.ParseIP("127.0.0.1")}
	extra := []string{"etcd.example.internal", "etcd1.example.internal"}
	server, peer := MemberRequests("etcd1", "etcd1.example.internal", ips, extra, ecdsa256, time.Hour)
	wantDNS := []string{"etcd1", "etcd1.example.internal", "etcd.example.internal", "localhost"}
	wantIPs := []string{"192.168.2.51", "fd00::51", "127.0.0.1", "::1"}
	for _, r := range []Request{server, peer} {
		if !slices.Equal(r.DNSNames, wantDNS) {
			t.Errorf("%v DNSNames = %v, want %v", r.Kind, r.DNSNames, wantDNS)
		}
		if !slices.Equal(ipStrings(r.IPs), wantIPs) {
			t.Errorf("%v IPs = %v, want %v", r.Kind, r.IPs, wantIPs)
		}
		if r.CommonName != "etcd1" {
			t.Errorf("%v CN = %q", r.Kind, r.CommonName)
		}
	}
	if server.Kind != Server || peer.Kind != Peer {
		t.Errorf("kinds = %v, %v", server.Kind, peer.Kind)
	}
	peer.DNSNames[0] = "changed"
	if server.DNSNames[0] != "etcd1" {
		t.Error("server and peer requests share a slice")
	}
}

func TestClientRequestsMatchKubeadmNames(t *testing.T) {
	reqs := ClientRequests(ecdsa256, time.Hour)
	var got []string
	for _, r := range reqs {
		if r.Kind != Client {
			t.Errorf("%s kind = %v", r.CommonName, r.Kind)
		}
		got = append(got, r.CommonName+"/"+strings.Join(r.Organization, ","))
	}
	want := []string{"admin/", "healthcheck-client/", "kube-apiserver-etcd-client/system:masters"}
	if !slices.Equal(got, want) {
		t.Errorf("client requests = %v, want %v", got, want)
	}
}

func TestVerifyChainReportsUsageMismatch(t *testing.T) {
	ca := mustRoot(t, ecdsa256)
	kp, err := ca.Issue(ClientRequest("admin", nil, ecdsa256, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	err = VerifyChain(kp.CertPEM, ca.CertPEM(), nil, x509.ExtKeyUsageServerAuth)
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.IncompatibleUsage {
		t.Fatalf("VerifyChain error = %v, want IncompatibleUsage", err)
	}
	if err := VerifyChain([]byte("x"), ca.CertPEM(), nil, x509.ExtKeyUsageAny); err == nil {
		t.Fatal("VerifyChain accepts garbage")
	}
}
