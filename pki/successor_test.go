package pki

import (
	"bytes"
	"crypto/x509"
	"net"
	"testing"
	"time"
)

// A leaf of the successor CA, presented with the cross-certificate, verifies
// to the old root alone (what a running etcd loaded), to the new root alone
// and to a bundle of both, with crypto/x509 and openssl alike; without the
// cross-certificate it does not verify to the old root.
func TestSuccessorLeafVerifiesToOldAndNewRoots(t *testing.T) {
	old := mustRoot(t, KeySpec{})
	next, err := NewSuccessorCA(old, KeySpec{}, 5*365*24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !next.IsRoot() || next.Certificate().Subject.CommonName != "etcd" {
		t.Fatalf("successor: root %v, CN %q", next.IsRoot(), next.Certificate().Subject.CommonName)
	}
	if bytes.Equal(next.Certificate().RawSubject, old.Certificate().RawSubject) {
		t.Error("the successor has the old root's subject")
	}
	cross, err := ParseCertificates(next.ChainPEM())
	if err != nil || len(cross) != 1 {
		t.Fatalf("chain: %v, %d certificates", err, len(cross))
	}
	if cross[0].NotAfter.After(old.Certificate().NotAfter) || !bytes.Equal(cross[0].RawSubject, next.Certificate().RawSubject) {
		t.Errorf("cross-certificate: subject %s until %s", cross[0].Subject, cross[0].NotAfter)
	}

	server, _ := MemberRequests("etcd1", "", []net.IP{net.ParseIP("10.0.0.1")}, nil, KeySpec{}, 24*time.Hour)
	leaf, err := next.Issue(server)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ParseCertificates(leaf.CertPEM)
	if err != nil || len(certs) != 2 {
		t.Fatalf("issued bundle: %v, %d certificates, want leaf and cross-certificate", err, len(certs))
	}
	leafOnly := encodeCertPEM(certs[0].Raw)
	for _, tc := range []struct {
		name        string
		roots, leaf []byte
		ok          bool
	}{
		{"old root, with cross-certificate", old.CertPEM(), leaf.CertPEM, true},
		{"new root, with cross-certificate", next.CertPEM(), leaf.CertPEM, true},
		{"both roots, with cross-certificate", append(old.CertPEM(), next.CertPEM()...), leaf.CertPEM, true},
		{"new root, leaf alone", next.CertPEM(), leafOnly, true},
		{"old root, leaf alone", old.CertPEM(), leafOnly, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyChain(tc.leaf, tc.roots, nil, x509.ExtKeyUsageServerAuth)
			if (err == nil) != tc.ok {
				t.Errorf("crypto/x509: err = %v, want ok %v", err, tc.ok)
			}
			var inter []byte
			if len(certs) > 1 && !bytes.Equal(tc.leaf, leafOnly) {
				inter = next.ChainPEM()
			}
			if out, ok := opensslVerify(t, tc.roots, inter, leafOnly, "sslserver"); ok != tc.ok {
				t.Errorf("openssl verify: %s, want ok %v", out, tc.ok)
			}
		})
	}
}

func TestCrossSignRefusesALeaf(t *testing.T) {
	old := mustRoot(t, KeySpec{})
	server, _ := MemberRequests("etcd1", "", []net.IP{net.ParseIP("10.0.0.1")}, nil, KeySpec{}, 24*time.Hour)
	kp, err := old.Issue(server)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.CrossSign(mustCert(t, kp), time.Now()); err == nil {
		t.Error("cross-signed a leaf")
	}
}
