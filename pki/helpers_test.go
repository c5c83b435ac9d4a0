package pki

import (
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const opensslPath = "/usr/bin/openssl"

// openssl runs the real openssl binary and returns its combined output and
// whether it exited 0.
func openssl(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	if _, err := os.Stat(opensslPath); err != nil {
		t.Fatalf("openssl is required for this test: %v", err)
	}
	out, err := exec.Command(opensslPath, args...).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run openssl %v: %v", args, err)
		}
	}
	return string(out), err == nil
}

// writeTemp writes data into a new file of t's temporary directory.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// opensslVerify runs `openssl verify -CAfile root [-untrusted inter]
// [-purpose p] leaf` and returns its output and whether it accepted leaf.
func opensslVerify(t *testing.T, rootPEM, interPEM, leafPEM []byte, purpose string) (string, bool) {
	t.Helper()
	args := []string{"verify", "-CAfile", writeTemp(t, "ca.pem", rootPEM)}
	if len(interPEM) > 0 {
		args = append(args, "-untrusted", writeTemp(t, "inter.pem", interPEM))
	}
	if purpose != "" {
		args = append(args, "-purpose", purpose)
	}
	// openssl verify reads only the first certificate of the leaf file.
	args = append(args, writeTemp(t, "leaf.pem", leafPEM))
	out, ok := openssl(t, args...)
	return out, ok && strings.Contains(out, ": OK")
}

func mustCert(t *testing.T, kp KeyPair) *x509.Certificate {
	t.Helper()
	c, err := kp.Certificate()
	if err != nil {
		t.Fatalf("parse issued certificate: %v", err)
	}
	return c
}

func mustRoot(t testing.TB, key KeySpec) *Authority {
	t.Helper()
	ca, err := NewRootCA("etcd", key, 10*365*24*time.Hour)
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	return ca
}

func mustCIDR(t testing.TB, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ipStrings(ips []net.IP) []string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return s
}

var (
	ecdsa256 = KeySpec{Algorithm: "ecdsa", Size: 256}
	rsa2048  = KeySpec{Algorithm: "rsa", Size: 2048}
)
