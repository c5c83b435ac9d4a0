package tlstest_test

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/internal/tlstest"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// serve runs a TLS echo-less server on 127.0.0.1 with spec.ServerTLS's
// settings for minVersion and returns its address and CA file.
func serve(t *testing.T, minVersion string) (addr, caFile string) {
	t.Helper()
	ca, err := pki.NewRootCA("tlstest", pki.KeySpec{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Issue(pki.Request{CommonName: "server", Kind: pki.Server, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	version, suites, err := spec.ServerTLS(minVersion)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, CipherSuites: suites})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	return ln.Addr().String(), caFile
}

func TestHandshakeTellsAcceptedFromRefused(t *testing.T) {
	addr, ca := serve(t, spec.TLS13)
	res, err := tlstest.Handshake(t, addr, tlstest.Client{Version: tls.VersionTLS13, CAFile: ca, VerifyIP: "127.0.0.1"})
	if err != nil || res.Protocol != "TLSv1.3" || res.Cipher == "" {
		t.Fatalf("TLS 1.3 client: %+v, %v", res, err)
	}
	if _, err := tlstest.Handshake(t, addr, tlstest.Client{Version: tls.VersionTLS12, CAFile: ca}); tlstest.Alert(err) != "protocol version" {
		t.Fatalf("TLS 1.2 client on a TLS 1.3 server: want the protocol version alert, got %v", err)
	}
	// A certificate that does not name the address fails verification.
	if _, err := tlstest.Handshake(t, addr, tlstest.Client{Version: tls.VersionTLS13, CAFile: ca, VerifyIP: "127.0.0.2"}); !errors.Is(err, tlstest.ErrRefused) || tlstest.Alert(err) != "" {
		t.Fatalf("wrong IP verified, or blamed on the server: %v", err)
	}

	addr, ca = serve(t, spec.TLS12)
	res, err = tlstest.Handshake(t, addr, tlstest.Client{Version: tls.VersionTLS12, CAFile: ca})
	if err != nil || res.Protocol != "TLSv1.2" {
		t.Fatalf("TLS 1.2 client on a TLS 1.2 server: %+v, %v", res, err)
	}
	if _, err := tlstest.Handshake(t, addr, tlstest.Client{Version: tls.VersionTLS12, CAFile: ca, Ciphers: tlstest.WeakTLS12Ciphers}); tlstest.Alert(err) != "handshake failure" {
		t.Fatalf("a CBC-only TLS 1.2 client: want the handshake failure alert, got %v", err)
	}
}
