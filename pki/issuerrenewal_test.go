package pki

import (
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func groupIssuer(t *testing.T, root *Authority, expiry time.Duration, ranges ...string) *Authority {
	t.Helper()
	if len(ranges) == 0 {
		ranges = []string{"10.123.0.0/24"}
	}
	var nets []*net.IPNet
	for _, r := range ranges {
		nets = append(nets, mustCIDR(t, r))
	}
	inter, err := root.NewIntermediate(IntermediateRequest{
		CommonName:          "e2e member issuer",
		PermittedDNSDomains: []string{clusterDomain},
		PermittedIPRanges:   nets,
		Expiry:              expiry,
	})
	if err != nil {
		t.Fatalf("NewIntermediate: %v", err)
	}
	return inter
}

func published(a *Authority) PublishedIssuer {
	return PublishedIssuer{CertPEM: string(a.CertPEM()), KeyPEM: string(a.KeyPEM())}
}

func TestCheckRenewedIssuer(t *testing.T) {
	root := mustRoot(t, ecdsa256)
	other := mustRoot(t, ecdsa256)
	current := groupIssuer(t, root, time.Hour)
	next := groupIssuer(t, root, 24*time.Hour)
	now := time.Now()
	roots := []*x509.Certificate{root.Certificate()}
	leaf, err := next.Issue(Request{CommonName: "etcd-10-123-0-11", IPs: []net.IP{net.ParseIP("10.123.0.11")}, Kind: Server, DNSNames: []string{"etcd-10-123-0-11.etcd.example.internal"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		next    PublishedIssuer
		roots   []*x509.Certificate
		now     time.Time
		wantErr error
		want    string
	}{
		{name: "a renewal under the same root", next: published(next)},
		{name: "trusted through a CA bundle holding the root", next: published(next), roots: []*x509.Certificate{other.Certificate(), root.Certificate()}},
		{name: "the issuer in use", next: published(current), wantErr: ErrIssuerUnchanged, want: "it is the issuer already in use"},
		{name: "from another root", next: published(groupIssuer(t, other, 24*time.Hour)), wantErr: ErrIssuerOtherRoot,
			want: `not signed by this cluster's root CA: it was issued by "etcd"; make it under the cluster's CA with etcdboot certs rotate --issuer`},
		{name: "wider name constraints", next: published(groupIssuer(t, root, 24*time.Hour, "10.123.0.0/24", "10.0.0.0/8")), wantErr: ErrIssuerConstraints,
			want: "name constraints differ from the issuer in use: it also permits IP 10.0.0.0/8: wider than the one in use (10.123.0.0/24, 127.0.0.0/8, ::1/128)"},
		{name: "another subnet", next: published(groupIssuer(t, root, 24*time.Hour, "10.9.0.0/24")), wantErr: ErrIssuerConstraints,
			want: "it also permits IP 10.9.0.0/24: wider than the one in use (10.123.0.0/24, 127.0.0.0/8, ::1/128); it no longer permits IP 10.123.0.0/24, which members may use"},
		{name: "expired", next: published(next), now: next.Certificate().NotAfter.Add(time.Second), wantErr: ErrIssuerNotValid, want: "outside its validity period: it expired at "},
		{name: "not yet valid", next: published(next), now: next.Certificate().NotBefore.Add(-time.Second), wantErr: ErrIssuerNotValid, want: "outside its validity period: it is valid only from "},
		{name: "expires before the one in use", next: published(groupIssuer(t, root, 30*time.Minute)), wantErr: ErrIssuerNotNewer, want: "expires before the issuer in use: it expires at "},
		{name: "the key of another issuer", next: PublishedIssuer{CertPEM: string(next.CertPEM()), KeyPEM: string(current.KeyPEM())}, wantErr: ErrIssuerInvalid,
			want: "the private key does not belong to the certificate"},
		{name: "the root itself", next: published(root), wantErr: ErrIssuerInvalid, want: "it must be an intermediate with path length 0"},
		{name: "a leaf", next: PublishedIssuer{CertPEM: string(leaf.CertPEM), KeyPEM: string(leaf.KeyPEM)}, wantErr: ErrIssuerInvalid, want: "not a CA certificate"},
		{name: "not PEM", next: PublishedIssuer{CertPEM: "garbage", KeyPEM: "garbage"}, wantErr: ErrIssuerInvalid, want: "not PEM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.roots == nil {
				tc.roots = roots
			}
			if tc.now.IsZero() {
				tc.now = now
			}
			a, err := CheckRenewedIssuer(current.Certificate(), tc.next, tc.roots, tc.now)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if a.Certificate().SerialNumber.Cmp(next.Certificate().SerialNumber) != 0 {
					t.Errorf("returned issuer %s, want %s", a.Certificate().SerialNumber, next.Certificate().SerialNumber)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPublishedIssuerRoundTrips(t *testing.T) {
	p := PublishedIssuer{CertPEM: "cert", KeyPEM: "key"}
	got, err := ParsePublishedIssuer(p.Marshal())
	if err != nil || got != p {
		t.Fatalf("ParsePublishedIssuer(Marshal()) = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "{}", `{"cert":"c"}`, `{"cert":"c","key":"k","extra":1}`, "-----BEGIN CERTIFICATE-----"} {
		if _, err := ParsePublishedIssuer([]byte(bad)); err == nil {
			t.Errorf("ParsePublishedIssuer(%q) succeeded", bad)
		}
	}
}
