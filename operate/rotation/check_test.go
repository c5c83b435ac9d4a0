package rotation

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/pki"
)

const day = 24 * time.Hour

func newCA(t *testing.T, cn string) *pki.Authority {
	t.Helper()
	ca, err := pki.NewRootCA(cn, pki.KeySpec{}, 365*day)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func issue(t *testing.T, ca *pki.Authority, req pki.Request) pki.KeyPair {
	t.Helper()
	kp, err := ca.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writePair writes <name>.crt and <name>.key into dir.
func writePair(t *testing.T, dir, name string, kp pki.KeyPair) {
	t.Helper()
	writeFile(t, filepath.Join(dir, name+".crt"), kp.CertPEM)
	writeFile(t, filepath.Join(dir, name+".key"), kp.KeyPEM)
}

func memberRequests(name string, expiry time.Duration) (server, peer pki.Request) {
	return pki.MemberRequests(name, "", []net.IP{net.ParseIP("10.0.0.1")}, nil, pki.KeySpec{}, expiry)
}

func row(t *testing.T, r Report, source string) Certificate {
	t.Helper()
	for _, c := range r.Certificates {
		if c.Source == source && c.Position == 0 {
			return c
		}
	}
	t.Fatalf("no row for %s in %+v", source, r.Certificates)
	return Certificate{}
}

func TestCertificateWithinThresholdIsExpiring(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "etcd")
	writeFile(t, filepath.Join(dir, "ca.crt"), ca.CertPEM())
	shortServer, _ := memberRequests("etcd1", 10*day)
	_, longPeer := memberRequests("etcd1", 300*day)
	writePair(t, dir, "etcd1-server", issue(t, ca, shortServer))
	writePair(t, dir, "etcd1-peer", issue(t, ca, longPeer))

	r, err := Check(context.Background(), CheckOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Certificates) != 3 {
		t.Fatalf("%d rows, want ca, etcd1-peer and etcd1-server: %+v", len(r.Certificates), r.Certificates)
	}
	exp := r.Expiring()
	if len(exp) != 1 || exp[0].Source != filepath.Join(dir, "etcd1-server.crt") {
		t.Fatalf("Expiring() = %+v, want etcd1-server only", exp)
	}
	s := exp[0]
	if s.DaysLeft < 9 || s.DaysLeft > 10 || s.Status() != StatusExpiring || !s.ChainOK || !s.KeyUsageOK || s.Kind != KindServer {
		t.Errorf("etcd1-server row: %+v (status %s)", s, s.Status())
	}
	if len(r.Problems()) != 0 {
		t.Errorf("Problems() = %+v", r.Problems())
	}
	if c := row(t, r, filepath.Join(dir, "ca.crt")); c.Kind != KindCA || !c.ChainOK || !c.KeyUsageOK {
		t.Errorf("ca row: %+v", c)
	}

	// Eleven days on, the short one has expired and no longer verifies.
	later, err := Check(context.Background(), CheckOptions{Dir: dir, Now: time.Now().Add(11 * day)})
	if err != nil {
		t.Fatal(err)
	}
	s = row(t, later, filepath.Join(dir, "etcd1-server.crt"))
	if s.Status() != StatusExpired || s.DaysLeft >= 0 || s.ChainOK || !strings.Contains(s.ChainError, "expired") {
		t.Errorf("after expiry: %+v (status %s)", s, s.Status())
	}
	if later.OK() {
		t.Error("report with an expired certificate is OK")
	}
}

func TestThresholdIsConfigurable(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "etcd")
	writeFile(t, filepath.Join(dir, "ca.crt"), ca.CertPEM())
	server, _ := memberRequests("etcd1", 10*day)
	writePair(t, dir, "etcd1-server", issue(t, ca, server))
	r, err := Check(context.Background(), CheckOptions{Dir: dir, Threshold: 7 * day})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Expiring()) != 0 || !r.OK() {
		t.Errorf("10 days left with a 7 day threshold: %+v", r.Expiring())
	}
}

func TestCertificateFromAnotherCAFailsTheChain(t *testing.T) {
	dir := t.TempDir()
	ours, theirs := newCA(t, "etcd"), newCA(t, "kubernetes")
	writeFile(t, filepath.Join(dir, "ca.crt"), ours.CertPEM())
	server, _ := memberRequests("etcd1", 300*day)
	writePair(t, dir, "etcd1-server", issue(t, ours, server))
	foreign, _ := memberRequests("etcd2", 300*day)
	writePair(t, dir, "etcd2-server", issue(t, theirs, foreign))

	r, err := Check(context.Background(), CheckOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c := row(t, r, filepath.Join(dir, "etcd1-server.crt")); !c.ChainOK {
		t.Errorf("our own certificate fails: %s", c.ChainError)
	}
	c := row(t, r, filepath.Join(dir, "etcd2-server.crt"))
	if c.ChainOK || !strings.Contains(c.ChainError, "not signed by the trusted CA") || c.Status() != StatusInvalid {
		t.Errorf("foreign certificate: %+v", c)
	}
	if p := r.Problems(); len(p) != 1 || p[0].Source != c.Source {
		t.Errorf("Problems() = %+v", p)
	}
}

func TestIntermediateInTheBundleCompletesTheChain(t *testing.T) {
	dir := t.TempDir()
	root := newCA(t, "etcd")
	inter, err := root.NewIntermediate(pki.IntermediateRequest{CommonName: "issuer", PermittedDNSDomains: []string{"etcd.test"}, Expiry: 30 * day})
	if err != nil {
		t.Fatal(err)
	}
	server, _ := pki.MemberRequests("etcd-1.etcd.test", "", nil, nil, pki.KeySpec{}, 20*day)
	kp := issue(t, inter, server)
	writeFile(t, filepath.Join(dir, "ca.crt"), root.CertPEM())
	writePair(t, dir, "server", kp)
	r, err := Check(context.Background(), CheckOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	leaf := row(t, r, filepath.Join(dir, "server.crt"))
	if !leaf.ChainOK || leaf.Kind != KindServer {
		t.Errorf("leaf issued by the intermediate: %+v", leaf)
	}
	var mid *Certificate
	for i, c := range r.Certificates {
		if c.Source == leaf.Source && c.Position == 1 {
			mid = &r.Certificates[i]
		}
	}
	if mid == nil || mid.Kind != KindIntermediate || !mid.ChainOK || !mid.KeyUsageOK {
		t.Errorf("intermediate row: %+v", mid)
	}

	// Without the intermediate the leaf does not verify.
	leafOnly := filepath.Join(t.TempDir(), "server.crt")
	writeFile(t, leafOnly, kp.CertPEM[:bytes.Index(kp.CertPEM, []byte("-----END CERTIFICATE-----"))+len("-----END CERTIFICATE-----\n")])
	r, err = Check(context.Background(), CheckOptions{Files: []string{leafOnly}, CAFile: filepath.Join(dir, "ca.crt")})
	if err != nil {
		t.Fatal(err)
	}
	if c := row(t, r, leafOnly); c.ChainOK {
		t.Error("a leaf without its intermediate verifies to the root")
	}
}

func TestWrongKeyUsageForTheRole(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "etcd")
	writeFile(t, filepath.Join(dir, "ca.crt"), ca.CertPEM())
	// A client-auth-only certificate where a peer certificate belongs.
	writePair(t, dir, "etcd1-peer", issue(t, ca, pki.ClientRequest("etcd1", nil, pki.KeySpec{}, 300*day)))
	r, err := Check(context.Background(), CheckOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := row(t, r, filepath.Join(dir, "etcd1-peer.crt"))
	if c.KeyUsageOK || c.Kind != KindPeer || !strings.Contains(c.KeyUsageError, "server auth") {
		t.Errorf("peer certificate without server auth: %+v", c)
	}
}

// tlsServer starts an HTTPS server presenting kp, optionally requiring a
// client certificate.
func tlsServer(t *testing.T, kp pki.KeyPair, requireClient bool, maxVersion ...uint16) *httptest.Server {
	t.Helper()
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// Refused handshakes are part of the tests, not news.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if requireClient {
		srv.TLS.ClientAuth = tls.RequireAnyClientCert
	}
	if len(maxVersion) > 0 {
		srv.TLS.MaxVersion = maxVersion[0]
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestEndpointReportsTheChainItServes(t *testing.T) {
	dir := t.TempDir()
	root := newCA(t, "etcd")
	caFile := filepath.Join(dir, "ca.crt")
	writeFile(t, caFile, root.CertPEM())
	inter, err := root.NewIntermediate(pki.IntermediateRequest{CommonName: "issuer", PermittedDNSDomains: []string{"etcd.test"}, Expiry: 30 * day})
	if err != nil {
		t.Fatal(err)
	}
	server, _ := pki.MemberRequests("etcd-1.etcd.test", "", nil, nil, pki.KeySpec{}, 20*day)
	kp := issue(t, inter, server)

	for _, tc := range []struct {
		requireClient bool
		maxVersion    uint16
	}{{false, tls.VersionTLS13}, {true, tls.VersionTLS13}, {true, tls.VersionTLS12}} {
		// etcd with client-cert-auth refuses a client without a
		// certificate (under TLS 1.2 before the handshake completes); its
		// chain is still read.
		requireClient := tc.requireClient
		srv := tlsServer(t, kp, tc.requireClient, tc.maxVersion)
		r, err := Check(context.Background(), CheckOptions{Endpoints: []string{srv.URL}, CAFile: caFile})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Certificates) != 2 {
			t.Fatalf("require client %v: %d rows, want leaf and intermediate: %+v", requireClient, len(r.Certificates), r.Certificates)
		}
		leaf, mid := r.Certificates[0], r.Certificates[1]
		if leaf.Source != srv.URL || leaf.Kind != KindServer || !leaf.ChainOK || !leaf.KeyUsageOK || leaf.Subject != "etcd-1.etcd.test" || !slices.Contains(leaf.SANs, "127.0.0.1") {
			t.Errorf("require client %v: leaf %+v", requireClient, leaf)
		}
		if mid.Position != 1 || mid.Kind != KindIntermediate || mid.Subject != "issuer" || !mid.ChainOK {
			t.Errorf("require client %v: intermediate %+v", requireClient, mid)
		}
		if !leaf.Expiring || len(r.Expiring()) != 2 {
			t.Errorf("20 and 30 days left are within 30 days: %+v", r.Expiring())
		}
	}
}

func TestEndpointNameMustBeInTheCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "etcd")
	caFile := filepath.Join(dir, "ca.crt")
	writeFile(t, caFile, ca.CertPEM())
	kp := issue(t, ca, pki.Request{CommonName: "etcd1", Kind: pki.Server, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	srv := tlsServer(t, kp, false)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	r, err := Check(context.Background(), CheckOptions{Endpoints: []string{"localhost:" + port}, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Certificates[0]; c.ChainOK || !strings.Contains(c.ChainError, "localhost") {
		t.Errorf("served for a name it does not carry: %+v", c)
	}
}

func TestUnreachableEndpointIsARowNotAnError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r, err := Check(context.Background(), CheckOptions{Endpoints: []string{"https://" + addr, "no-port"}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Certificates) != 2 || r.Certificates[0].Status() != StatusError || !strings.Contains(r.Certificates[1].Error, "host:port") {
		t.Errorf("rows: %+v", r.Certificates)
	}
	if len(r.Problems()) != 2 {
		t.Errorf("Problems() = %+v", r.Problems())
	}
}

func TestCheckRefusesNothingToCheck(t *testing.T) {
	if _, err := Check(context.Background(), CheckOptions{}); err == nil {
		t.Error("Check with no input succeeded")
	}
	if _, err := Check(context.Background(), CheckOptions{Dir: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("Check of a missing directory succeeded")
	}
}

func TestCorruptFileIsARow(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "etcd1-server.crt"), []byte("-----BEGIN CERTIFICATE-----\nnot base64\n"))
	r, err := Check(context.Background(), CheckOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Certificates[0]; c.Status() != StatusError {
		t.Errorf("corrupt file: %+v", c)
	}
}

func TestWritersShowEveryRow(t *testing.T) {
	dir := t.TempDir()
	ca := newCA(t, "etcd")
	writeFile(t, filepath.Join(dir, "ca.crt"), ca.CertPEM())
	server, _ := memberRequests("etcd1", 10*day)
	writePair(t, dir, "etcd1-server", issue(t, ca, server))
	r, err := Check(context.Background(), CheckOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{" SOURCE ", "etcd1-server.crt", " expiring |", "10.0.0.1", "1 certificate(s) expire within 30 days"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Certificates) != 2 || !back.Certificates[1].Expiring || back.Threshold != DefaultThreshold {
		t.Errorf("JSON round trip: %+v", back)
	}
}

func TestFromSpecTakesTheAlertsThreshold(t *testing.T) {
	for _, tc := range []struct {
		example string
		want    time.Duration
	}{{"three-node-static", DefaultThreshold}, {"autoscaling", 240 * time.Hour}} {
		var opts CheckOptions
		if err := FromSpec(&opts, filepath.Join("..", "..", "examples", tc.example, "cluster.yaml")); err != nil {
			t.Fatal(err)
		}
		if opts.Threshold != tc.want || opts.Dir != DefaultPKIDir || len(opts.Endpoints) != 3 || filepath.Base(opts.CertFile) != "healthcheck-client.crt" {
			t.Errorf("%s: %+v", tc.example, opts)
		}
	}
}
