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
