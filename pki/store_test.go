package pki

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// snapshot returns every file of dir with its bytes and modification time.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = info.ModTime().String() + "\n" + string(data)
	}
	return files
}

func memberServer(ips ...string) Request {
	var addrs []net.IP
	for _, ip := range ips {
		addrs = append(addrs, net.ParseIP(ip))
	}
	server, _ := MemberRequests("etcd1", "etcd1.example.internal", addrs, nil, ecdsa256, 365*24*time.Hour)
	return server
}

func TestDirSecondRunRewritesNothing(t *testing.T) {
	d := Dir{Path: filepath.Join(t.TempDir(), "pki")}
	run := func() (*Authority, KeyPair) {
		ca, err := d.EnsureCA("etcd", ecdsa256, 10*365*24*time.Hour, false)
		if err != nil {
			t.Fatalf("EnsureCA: %v", err)
		}
		kp, err := d.EnsureCert(ca, "server", memberServer("192.168.2.51"), false)
		if err != nil {
			t.Fatalf("EnsureCert: %v", err)
		}
		if _, err := d.EnsureCert(ca, "admin", ClientRequest("admin", nil, ecdsa256, time.Hour), false); err != nil {
			t.Fatalf("EnsureCert client: %v", err)
		}
		return ca, kp
	}
	ca1, kp1 := run()
	first := snapshot(t, d.Path)
	ca2, kp2 := run()
	second := snapshot(t, d.Path)

	if len(first) != 6 {
		t.Errorf("files = %d, want 6 (ca, server, admin: .crt and .key)", len(first))
	}
	for name, content := range first {
		if second[name] != content {
			t.Errorf("%s changed on the second run", name)
		}
	}
	if string(ca1.CertPEM()) != string(ca2.CertPEM()) || string(kp1.CertPEM) != string(kp2.CertPEM) || string(kp1.KeyPEM) != string(kp2.KeyPEM) {
		t.Error("second run returned different certificates or keys")
	}
}

func TestDirFileModes(t *testing.T) {
	d := Dir{Path: filepath.Join(t.TempDir(), "pki")}
	ca, err := d.EnsureCA("etcd", ecdsa256, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.EnsureCert(ca, "peer", memberServer("10.0.0.1"), false); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{"ca.crt": 0o644, "ca.key": 0o600, "peer.crt": 0o644, "peer.key": 0o600}
	for name, mode := range want {
		info, err := os.Stat(filepath.Join(d.Path, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != mode {
			t.Errorf("%s mode = %o, want %o", name, got, mode)
		}
	}
	entries, _ := os.ReadDir(d.Path)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestDirEnsureCertDecidesKeepReissueOrRenew(t *testing.T) {
	tests := []struct {
		name     string
		second   Request
		rotate   bool
		newCA    bool
		sameCert bool
		sameKey  bool
	}{
		{"unchanged request keeps both", memberServer("10.0.0.1"), false, false, true, true},
		{"same SANs in another order keep both", func() Request {
			r := memberServer("10.0.0.1")
			r.DNSNames[0], r.DNSNames[1] = r.DNSNames[1], r.DNSNames[0]
			return r
		}(), false, false, true, true},
		{"added IP reissues with the same key", memberServer("10.0.0.1", "10.0.0.2"), false, false, false, true},
		{"removed DNS name reissues with the same key", func() Request { r := memberServer("10.0.0.1"); r.DNSNames = r.DNSNames[:1]; return r }(), false, false, false, true},
		{"other kind reissues with the same key", func() Request { r := memberServer("10.0.0.1"); r.Kind = Client; return r }(), false, false, false, true},
		{"new CA reissues with the same key", memberServer("10.0.0.1"), false, true, false, true},
		{"other key type makes a new key", func() Request { r := memberServer("10.0.0.1"); r.Key = rsa2048; return r }(), false, false, false, false},
		{"rotate makes a new key", memberServer("10.0.0.1"), true, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Dir{Path: t.TempDir()}
			ca := mustRoot(t, ecdsa256)
			first, err := d.EnsureCert(ca, "server", memberServer("10.0.0.1"), false)
			if err != nil {
				t.Fatal(err)
			}
			if tt.newCA {
				ca = mustRoot(t, ecdsa256)
			}
			second, err := d.EnsureCert(ca, "server", tt.second, tt.rotate)
			if err != nil {
				t.Fatalf("second EnsureCert: %v", err)
			}
			if got := string(first.CertPEM) == string(second.CertPEM); got != tt.sameCert {
				t.Errorf("same certificate = %v, want %v", got, tt.sameCert)
			}
			if got := string(first.KeyPEM) == string(second.KeyPEM); got != tt.sameKey {
				t.Errorf("same key = %v, want %v", got, tt.sameKey)
			}
			onDiskCert, _ := os.ReadFile(d.CertPath("server"))
			onDiskKey, _ := os.ReadFile(d.KeyPath("server"))
			if string(onDiskCert) != string(second.CertPEM) || string(onDiskKey) != string(second.KeyPEM) {
				t.Error("files on disk differ from what EnsureCert returned")
			}
			if err := VerifyChain(second.CertPEM, ca.CertPEM(), nil, tt.second.Kind.ExtKeyUsages()[0]); err != nil {
				t.Errorf("result does not verify against the current CA: %v", err)
			}
		})
	}
}

func TestDirEnsureCertRenewsNearExpiryKeepingKey(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	ca := mustRoot(t, ecdsa256)
	req := ClientRequest("admin", nil, ecdsa256, time.Hour)
	first, err := d.EnsureCert(ca, "admin", req, false)
	if err != nil {
		t.Fatal(err)
	}
	// Same key, subject and usages, but only a fifth of its life left.
	key, err := parseKeyPEM(first.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "admin"},
		NotBefore:    time.Now().Add(-4 * time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate(), key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	old := encodeCertPEM(der)
	if err := os.WriteFile(d.CertPath("admin"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	renewed, err := d.EnsureCert(ca, "admin", req, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(renewed.CertPEM) == string(old) {
		t.Error("a certificate with a fifth of its life left was kept")
	}
	if string(renewed.KeyPEM) != string(first.KeyPEM) {
		t.Error("renewal changed the key")
	}
	// And the same old certificate with most of its life left is kept.
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(4*time.Hour)
	if der, err = x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate(), key.Public(), ca.key); err != nil {
		t.Fatal(err)
	}
	young := encodeCertPEM(der)
	if err := os.WriteFile(d.CertPath("admin"), young, 0o644); err != nil {
		t.Fatal(err)
	}
	kept, err := d.EnsureCert(ca, "admin", req, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(kept.CertPEM) != string(young) {
		t.Error("a certificate with four fifths of its life left was reissued")
	}
}

func TestDirEnsureCARotateMakesNewCA(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	a, err := d.EnsureCA("etcd", rsa2048, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.EnsureCA("etcd", rsa2048, time.Hour, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.KeyPEM()) == string(b.KeyPEM()) || string(a.CertPEM()) == string(b.CertPEM()) {
		t.Fatal("rotate kept the CA")
	}
	c, err := d.EnsureCA("etcd", rsa2048, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.KeyPEM()) != string(b.KeyPEM()) {
		t.Fatal("the rotated CA was not the one kept")
	}
}

func TestDirReportsCorruptAndMissingFiles(t *testing.T) {
	const fix = "delete it and rerun, or pass --rotate"
	tests := []struct {
		name    string
		file    string // file to damage after a good first run
		content string // "" removes it
		ensure  func(d Dir) error
		want    []string
		corrupt bool
	}{
		{"corrupt certificate", "server.crt", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", ensureServer, []string{"server.crt", fix}, true},
		{"truncated certificate", "server.crt", "-----BEGIN CERTIFICATE-----\nMIIB", ensureServer, []string{"server.crt", fix}, true},
		{"corrupt key", "server.key", "garbage", ensureServer, []string{"server.key", fix}, true},
		{"missing CA certificate", "ca.crt", "", ensureCA, []string{"ca.crt", "ca.key exists", "--rotate"}, false},
		{"corrupt CA key", "ca.key", "junk", ensureCA, []string{"ca.key", fix}, true},
		{"empty CA certificate", "ca.crt", "\n", ensureCA, []string{"ca.crt", "no PEM certificate found", fix}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Dir{Path: t.TempDir()}
			if err := ensureServer(d); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(d.Path, tt.file)
			if tt.content == "" {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			err := tt.ensure(d)
			if err == nil {
				t.Fatal("no error for a damaged file")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), p) && !strings.Contains(err.Error(), filepath.Join(d.Path, "ca.key")) {
				t.Errorf("error %q does not name the file by path", err)
			}
			if got := errors.Is(err, ErrCorruptFile); got != tt.corrupt {
				t.Errorf("errors.Is(err, ErrCorruptFile) = %v, want %v", got, tt.corrupt)
			}
		})
	}
}

func ensureCA(d Dir) error {
	_, err := d.EnsureCA("etcd", ecdsa256, time.Hour, false)
	return err
}

func ensureServer(d Dir) error {
	ca, err := d.EnsureCA("etcd", ecdsa256, time.Hour, false)
	if err != nil {
		return err
	}
	_, err = d.EnsureCert(ca, "server", memberServer("10.0.0.1"), false)
	return err
}

func TestDirRotateRepairsCorruptFiles(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	ca := mustRoot(t, ecdsa256)
	if err := os.WriteFile(d.CertPath("server"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	kp, err := d.EnsureCert(ca, "server", memberServer("10.0.0.1"), true)
	if err != nil {
		t.Fatalf("rotate over a corrupt file: %v", err)
	}
	if err := VerifyChain(kp.CertPEM, ca.CertPEM(), nil, x509.ExtKeyUsageServerAuth); err != nil {
		t.Fatal(err)
	}
}

func TestDirRefusesPathsOutsideIt(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	ca := mustRoot(t, ecdsa256)
	for _, name := range []string{"", "..", "../server", "a/b"} {
		if _, err := d.EnsureCert(ca, name, memberServer("10.0.0.1"), false); err == nil {
			t.Errorf("EnsureCert(%q) accepted", name)
		}
	}
}

func TestDirEnsureIntermediateIsIdempotentAndFollowsConstraints(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	root := mustRoot(t, ecdsa256)
	req := IntermediateRequest{
		CommonName:          "etcd member issuer",
		PermittedDNSDomains: []string{clusterDomain},
		PermittedIPRanges:   []*net.IPNet{mustCIDR(t, "10.123.0.0/24")},
		Expiry:              24 * time.Hour,
	}
	a, err := d.EnsureIntermediate(root, "member-issuer", req, false)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, d.Path)
	b, err := d.EnsureIntermediate(root, "member-issuer", req, false)
	if err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, d.Path); len(after) != len(before) || after["member-issuer.crt"] != before["member-issuer.crt"] || after["member-issuer.key"] != before["member-issuer.key"] {
		t.Error("second EnsureIntermediate rewrote files")
	}
	if string(a.CertPEM()) != string(b.CertPEM()) {
		t.Error("second EnsureIntermediate returned another CA")
	}

	req.PermittedIPRanges = append(req.PermittedIPRanges, mustCIDR(t, "10.124.0.0/24"))
	c, err := d.EnsureIntermediate(root, "member-issuer", req, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.CertPEM()) == string(a.CertPEM()) {
		t.Error("a new subnet did not re-sign the intermediate")
	}
	if string(c.KeyPEM()) != string(a.KeyPEM()) {
		t.Error("a new subnet changed the intermediate's key")
	}
	if err := c.Permits(nil, []net.IP{net.ParseIP("10.124.0.9")}); err != nil {
		t.Errorf("re-signed intermediate does not permit the new subnet: %v", err)
	}

	r, err := d.EnsureIntermediate(root, "member-issuer", req, true)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.KeyPEM()) == string(c.KeyPEM()) {
		t.Error("rotate kept the intermediate's key")
	}
}
