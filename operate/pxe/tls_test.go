package pxe

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdboot/etcdboot/internal/tlstest"
)

func TestTLSClientTrustingTheGeneratorsCAConnects(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig(t, tr)
	cfg.TLS = true
	cfg.Hostnames = []string{"pxe.lab.test"}
	s := startServer(t, cfg)

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(mustRead(t, filepath.Join(tr.out, "pki", "ca.crt")))) {
		t.Fatal("no CA certificate in out/pki/ca.crt")
	}
	base := "https://" + s.Addr()
	if !strings.HasPrefix(s.BaseURL(), "https://127.0.0.1:") {
		t.Errorf("BaseURL %q, want https on the listen address", s.BaseURL())
	}
	c := tlsClient(t, &tls.Config{RootCAs: pool})
	r := doWith(t, c, base, http.MethodGet, "/ignition?mac="+macEtcd1)
	if r.status != http.StatusOK || r.body != mustRead(t, filepath.Join(tr.out, "nodes", "etcd1", "ignition.json")) {
		t.Fatalf("status %d over TLS, or another payload", r.status)
	}
	// The certificate names the extra hostname too.
	c = tlsClient(t, &tls.Config{RootCAs: pool, ServerName: "pxe.lab.test"})
	if r := doWith(t, c, base, http.MethodGet, "/healthz"); r.status != http.StatusOK {
		t.Errorf("with ServerName pxe.lab.test: status %d", r.status)
	}

	// A client that trusts only the system roots refuses the server.
	req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
	if resp, err := (&http.Client{}).Do(req); err == nil {
		resp.Body.Close()
		t.Error("a client without the generator's CA connected")
	}
	// Plain http on the TLS port is not served.
	if resp, err := testClient.Get("http://" + s.Addr() + "/healthz"); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Error("plain http answered 200 on the TLS listener")
		}
		resp.Body.Close()
	}
}

func TestTLSCertificateIsKeptAcrossRestarts(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig(t, tr)
	cfg.TLS = true
	cfg.BaseURL = "https://10.123.0.2:8443"
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(tr.out, "pki", "serve.crt")
	first := mustRead(t, certPath)
	if fi, err := os.Stat(filepath.Join(tr.out, "pki", "serve.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("serve.key: %v, mode %v; want 0600", err, fi.Mode())
	}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	if mustRead(t, certPath) != first {
		t.Error("serve.crt was reissued although nothing changed")
	}
	block := []byte(first)
	cert, err := tls.X509KeyPair(block, []byte(mustRead(t, filepath.Join(tr.out, "pki", "serve.key"))))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	if got := strings.Join(ips, ","); !strings.Contains(got, "127.0.0.1") || !strings.Contains(got, "10.123.0.2") {
		t.Errorf("certificate IPs %s, want the listen address and the base URL's host", got)
	}
	if !bytes.Contains(block, []byte("BEGIN CERTIFICATE")) {
		t.Error("serve.crt is not PEM")
	}
}

func TestTLSRefusesAnHTTPBaseURL(t *testing.T) {
	cfg := testConfig(t, newTree(t))
	cfg.TLS = true
	cfg.BaseURL = "http://10.123.0.2:8080"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "is http but TLS is on") {
		t.Errorf("New: %v", err)
	}
}

// TestTLSListenerServesTheClustersTLSMinimum: `serve --tls` follows the
// tls.minVersion the tree's payloads carry, checked with openssl s_client.
// The fixture's cluster leaves it at TLS1.3, so a TLS 1.2-only client (such
// as iPXE) is refused; once the tree says TLS1.2 and is reloaded, TLS 1.2
// works, but still not with only CBC suites.
func TestTLSListenerServesTheClustersTLSMinimum(t *testing.T) {
	tlstest.OpenSSL(t)
	tr := newTree(t)
	cfg := testConfig(t, tr)
	cfg.TLS = true
	s := startServer(t, cfg)
	c := tlstest.Client{CAFile: filepath.Join(tr.out, "pki", "ca.crt"), VerifyIP: "127.0.0.1"}

	c.Version = tls.VersionTLS13
	if res, err := tlstest.Handshake(t, s.Addr(), c); err != nil {
		t.Fatalf("TLS 1.3 client: %v", err)
	} else {
		t.Logf("TLS 1.3 client: %s %s", res.Protocol, res.Cipher)
	}
	c.Version = tls.VersionTLS12
	if res, err := tlstest.Handshake(t, s.Addr(), c); tlstest.Alert(err) != "protocol version" {
		t.Fatalf("a TLS 1.2-only client was not refused for its version: %+v, %v", res, err)
	}

	payloads, err := filepath.Glob(filepath.Join(tr.out, "nodes", "*", "node.yaml"))
	if err != nil || len(payloads) == 0 {
		t.Fatalf("payloads: %v %v", payloads, err)
	}
	for _, p := range payloads {
		data := mustRead(t, p)
		if !strings.Contains(data, "minVersion: TLS1.3") {
			t.Fatalf("%s does not carry tls.minVersion:\n%s", p, data)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(data, "minVersion: TLS1.3", "minVersion: TLS1.2", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if res, err := tlstest.Handshake(t, s.Addr(), c); err != nil {
		t.Errorf("TLS 1.2 allowed, but the TLS 1.2 client failed: %v", err)
	} else {
		t.Logf("TLS 1.2 client: %s %s", res.Protocol, res.Cipher)
	}
	c.Ciphers = tlstest.WeakTLS12Ciphers
	if res, err := tlstest.Handshake(t, s.Addr(), c); tlstest.Alert(err) != "handshake failure" {
		t.Errorf("a TLS 1.2 client offering only CBC suites was not refused for its suites: %+v, %v", res, err)
	}
	c.Version, c.Ciphers = tls.VersionTLS13, ""
	if _, err := tlstest.Handshake(t, s.Addr(), c); err != nil {
		t.Errorf("TLS 1.3 client after the reload: %v", err)
	}
}
