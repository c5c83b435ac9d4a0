package pki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestNewRootCAIsSelfSignedCAWithRequestedKeyAndExpiry(t *testing.T) {
	tests := []struct {
		name    string
		key     KeySpec
		expiry  time.Duration
		wantAlg x509.PublicKeyAlgorithm
		wantSig x509.SignatureAlgorithm
		bits    int
	}{
		{"ecdsa P-256, 1 year", ecdsa256, 8760 * time.Hour, x509.ECDSA, x509.ECDSAWithSHA256, 256},
		{"rsa 2048, manual procedure's 87600h", rsa2048, 87600 * time.Hour, x509.RSA, x509.SHA256WithRSA, 2048},
		{"zero key means ecdsa P-256", KeySpec{}, time.Hour, x509.ECDSA, x509.ECDSAWithSHA256, 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := NewRootCA("etcd", tt.key, tt.expiry)
			if err != nil {
				t.Fatalf("NewRootCA: %v", err)
			}
			c := ca.Certificate()
			if !c.IsCA || !c.BasicConstraintsValid {
				t.Errorf("IsCA = %v, BasicConstraintsValid = %v; want both true", c.IsCA, c.BasicConstraintsValid)
			}
			if !ca.IsRoot() || c.CheckSignatureFrom(c) != nil {
				t.Errorf("root CA is not self-signed")
			}
			if c.Subject.CommonName != "etcd" {
				t.Errorf("CN = %q, want etcd", c.Subject.CommonName)
			}
			if c.PublicKeyAlgorithm != tt.wantAlg || c.SignatureAlgorithm != tt.wantSig {
				t.Errorf("key/signature = %v/%v, want %v/%v", c.PublicKeyAlgorithm, c.SignatureAlgorithm, tt.wantAlg, tt.wantSig)
			}
			switch pub := c.PublicKey.(type) {
			case *ecdsa.PublicKey:
				if got := pub.Curve.Params().BitSize; got != tt.bits {
					t.Errorf("curve size = %d, want %d", got, tt.bits)
				}
			case *rsa.PublicKey:
				if got := pub.N.BitLen(); got != tt.bits {
					t.Errorf("modulus = %d bits, want %d", got, tt.bits)
				}
			}
			if got := c.NotAfter.Sub(c.NotBefore); got != tt.expiry {
				t.Errorf("lifetime = %s, want %s", got, tt.expiry)
			}
			if c.NotBefore.After(time.Now()) {
				t.Errorf("NotBefore %s is in the future", c.NotBefore)
			}
			if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; c.KeyUsage != want {
				t.Errorf("KeyUsage = %b, want cert sign|crl sign (%b)", c.KeyUsage, want)
			}
			if len(c.ExtKeyUsage) != 0 {
				t.Errorf("root carries ExtKeyUsage %v; it must not restrict what it signs", c.ExtKeyUsage)
			}
			if len(ca.ChainPEM()) != 0 {
				t.Errorf("root's leaves must not carry a chain")
			}
			out, _ := openssl(t, "x509", "-noout", "-text", "-in", writeTemp(t, "ca.pem", ca.CertPEM()))
			if !strings.Contains(out, "CA:TRUE") {
				t.Errorf("openssl does not see CA:TRUE:\n%s", out)
			}
		})
	}
}

func TestLoadAuthorityRoundTripsAndSigns(t *testing.T) {
	ca := mustRoot(t, ecdsa256)
	loaded, err := LoadAuthority(ca.CertPEM(), ca.KeyPEM())
	if err != nil {
		t.Fatalf("LoadAuthority: %v", err)
	}
	if !loaded.Certificate().Equal(ca.Certificate()) {
		t.Fatal("loaded certificate differs")
	}
	kp, err := loaded.Issue(ClientRequest("admin", nil, ecdsa256, time.Hour))
	if err != nil {
		t.Fatalf("Issue from loaded CA: %v", err)
	}
	if err := VerifyChain(kp.CertPEM, ca.CertPEM(), nil, x509.ExtKeyUsageClientAuth); err != nil {
		t.Fatalf("certificate from loaded CA does not verify against the original: %v", err)
	}
}

func TestLoadAuthorityRejectsBadInput(t *testing.T) {
	ca := mustRoot(t, ecdsa256)
	other := mustRoot(t, ecdsa256)
	leaf, err := ca.Issue(ClientRequest("admin", nil, ecdsa256, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		cert, key     []byte
		wantSubstring string
	}{
		{"key of another CA", ca.CertPEM(), other.KeyPEM(), "does not belong to the certificate"},
		{"leaf certificate", leaf.CertPEM, leaf.KeyPEM, "not a CA certificate"},
		{"garbage certificate", []byte("not pem"), ca.KeyPEM(), "not PEM"},
		{"empty certificate", nil, ca.KeyPEM(), "no PEM certificate found"},
		{"garbage key", ca.CertPEM(), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"), "parse private key"},
		{"key in cert slot", ca.KeyPEM(), ca.KeyPEM(), "want CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadAuthority(tt.cert, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.wantSubstring) {
				t.Fatalf("LoadAuthority error = %v, want one containing %q", err, tt.wantSubstring)
			}
		})
	}
}

func TestNewRootCARejectsBadSpec(t *testing.T) {
	tests := []struct {
		name   string
		cn     string
		key    KeySpec
		expiry time.Duration
		want   string
	}{
		{"empty CN", "", ecdsa256, time.Hour, "common name is empty"},
		{"rsa 1024", "etcd", KeySpec{"rsa", 1024}, time.Hour, "RSA key size 1024"},
		{"ecdsa 2048", "etcd", KeySpec{"ecdsa", 2048}, time.Hour, "not an ECDSA curve"},
		{"ed25519", "etcd", KeySpec{"ed25519", 256}, time.Hour, `"ed25519" is not supported`},
		{"negative expiry", "etcd", ecdsa256, -time.Hour, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRootCA(tt.cn, tt.key, tt.expiry)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
