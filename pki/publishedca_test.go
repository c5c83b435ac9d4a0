package pki

import (
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestCheckPublishedCA walks a group's CA rotation as its members see it:
// phase (a) adds the new CA, (b) keeps both while members take an issuer of
// the new CA, (c) drops the old one, which a member still minting with the
// old issuer refuses.
func TestCheckPublishedCA(t *testing.T) {
	old := mustRoot(t, ecdsa256)
	next, err := NewSuccessorCA(old, ecdsa256, 5*365*24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cross, err := ParseCertificates(next.ChainPEM())
	if err != nil {
		t.Fatal(err)
	}
	other := mustRoot(t, ecdsa256)
	oldIssuer := groupIssuer(t, old, 24*time.Hour)
	newIssuer := groupIssuer(t, next, 24*time.Hour)
	newIssuerChain, err := ParseCertificates(newIssuer.ChainPEM())
	if err != nil {
		t.Fatal(err)
	}
	if len(newIssuerChain) != 2 || !newIssuerChain[1].Equal(cross[0]) {
		t.Fatalf("the new CA's issuer carries %d certificates, want itself and the cross-certificate", len(newIssuerChain))
	}
	leaf, err := oldIssuer.Issue(Request{CommonName: "etcd-10-123-0-11", IPs: []net.IP{net.ParseIP("10.123.0.11")}, Kind: Server})
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(cs ...*x509.Certificate) []byte {
		var b []byte
		for _, c := range cs {
			b = append(b, encodeCertPEM(c.Raw)...)
		}
		return b
	}
	O, N, X := old.Certificate(), next.Certificate(), cross[0]
	oldChain := []*x509.Certificate{oldIssuer.Certificate()}
	now := time.Now()
	for _, tc := range []struct {
		name      string
		installed []*x509.Certificate
		bundle    []byte
		issuer    []*x509.Certificate
		now       time.Time
		wantErr   error
		want      string
	}{
		{name: "(a) trust both", installed: []*x509.Certificate{O}, bundle: pemOf(O, N), issuer: oldChain},
		{name: "(b) new CA first, old issuer still in use", installed: []*x509.Certificate{O, N}, bundle: pemOf(N, X, O), issuer: oldChain},
		{name: "(c) old CA dropped, new issuer in use", installed: []*x509.Certificate{N, X, O}, bundle: pemOf(N, X), issuer: newIssuerChain},
		{name: "(c) refused while the old issuer is in use", installed: []*x509.Certificate{N, X, O}, bundle: pemOf(N, X), issuer: oldChain,
			wantErr: ErrCABundleDropsIssuer, want: "install the new issuer first"},
		{name: "the installed bundle, in another order", installed: []*x509.Certificate{O, N}, bundle: pemOf(N, O), issuer: oldChain, wantErr: ErrCAUnchanged},
		{name: "another cluster's CA", installed: []*x509.Certificate{O}, bundle: pemOf(other.Certificate()), issuer: oldChain,
			wantErr: ErrCABundleUnrelated, want: "publishes a bundle of the old and the new CA first"},
		{name: "a leaf in the bundle", installed: []*x509.Certificate{O}, bundle: append(pemOf(O, N), leaf.CertPEM...), issuer: oldChain,
			wantErr: ErrCABundleInvalid, want: "is not a CA certificate"},
		{name: "not PEM", installed: []*x509.Certificate{O}, bundle: []byte("hello"), issuer: oldChain, wantErr: ErrCABundleInvalid},
		{name: "expired", installed: []*x509.Certificate{O}, bundle: pemOf(O, N), issuer: oldChain, now: now.Add(20 * 365 * 24 * time.Hour),
			wantErr: ErrCABundleInvalid, want: "is valid from"},
		{name: "no issuer", installed: []*x509.Certificate{O}, bundle: pemOf(O, N), wantErr: ErrCABundleDropsIssuer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := now
			if !tc.now.IsZero() {
				at = tc.now
			}
			got, err := CheckPublishedCA(tc.installed, tc.bundle, tc.issuer, at)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
			if err == nil && len(got) == 0 {
				t.Error("no certificates returned")
			}
		})
	}
}
