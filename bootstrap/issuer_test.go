package bootstrap

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudflare/cfssl/helpers"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

const testGroupDomain = "etcd.example.internal"

// syncBuffer is a log sink the test reads while the agent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

func testGroupIssuer(t *testing.T, root *pki.Authority, expiry time.Duration, ranges ...string) *pki.Authority {
	t.Helper()
	var nets []*net.IPNet
	for _, r := range append([]string{"10.123.0.0/24"}, ranges...) {
		_, n, err := net.ParseCIDR(r)
		if err != nil {
			t.Fatal(err)
		}
		nets = append(nets, n)
	}
	inter, err := root.NewIntermediate(pki.IntermediateRequest{
		CommonName: "test member issuer", PermittedDNSDomains: []string{testGroupDomain},
		PermittedIPRanges: nets, Expiry: expiry,
	})
	if err != nil {
		t.Fatal(err)
	}
	return inter
}

// expiredIssuer signs, with root's key, an issuer like like whose validity
// ended an hour ago: cfssl refuses to make one.
func expiredIssuer(t *testing.T, root *pki.Authority, like *x509.Certificate) pki.PublishedIssuer {
	t.Helper()
	rootKey, err := helpers.ParsePrivateKeyPEM(root.KeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: like.Subject.CommonName},
		NotBefore: time.Now().Add(-3 * time.Hour), NotAfter: time.Now().Add(-time.Hour),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		PermittedDNSDomainsCritical: true, PermittedDNSDomains: like.PermittedDNSDomains, PermittedIPRanges: like.PermittedIPRanges,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Certificate(), key.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pki.PublishedIssuer{
		CertPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		KeyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})),
	}
}

func publishedOf(a *pki.Authority) pki.PublishedIssuer {
	return pki.PublishedIssuer{CertPEM: string(a.CertPEM()), KeyPEM: string(a.KeyPEM())}
}

// launchedGroupNode is a group member's root as its launch payload leaves
// it: the CA file (caPEM), the issuer's files, no certificates of its own
// yet; and its payload.
func launchedGroupNode(t *testing.T, caPEM []byte, issuer *pki.Authority) (string, *spec.NodePayload) {
	t.Helper()
	nodeRoot := t.TempDir()
	tlsDir := "/etc/etcdboot/pki"
	p := &spec.NodePayload{
		Node:        &spec.Member{Name: "etcd-10-123-0-11", FQDN: "etcd-10-123-0-11." + testGroupDomain, IPs: []string{"10.123.0.11"}},
		Autoscaling: &spec.Autoscaling{Domain: testGroupDomain},
		TLS: spec.NodeTLS{
			CAFile:         filepath.Join(tlsDir, "ca.crt"),
			ServerCertFile: filepath.Join(tlsDir, "server.crt"), ServerKeyFile: filepath.Join(tlsDir, "server.key"),
			PeerCertFile: filepath.Join(tlsDir, "peer.crt"), PeerKeyFile: filepath.Join(tlsDir, "peer.key"),
			IssuerCertFile: filepath.Join(tlsDir, "issuer.crt"), IssuerKeyFile: filepath.Join(tlsDir, "issuer.key"),
		},
	}
	files := map[string][]byte{p.TLS.CAFile: caPEM, p.TLS.IssuerCertFile: issuer.CertPEM(), p.TLS.IssuerKeyFile: issuer.KeyPEM()}
	for path, data := range files {
		full := filepath.Join(nodeRoot, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return nodeRoot, p
}

// TestWatcherInstallsOnlyAGoodPublishedIssuer runs a real etcd on loopback:
// issuers published at /etcdboot/issuer from another root, with wider name
// constraints, expired, or older than the one in use are refused with a
// log line saying why and a metric, the files left as they were; a good one
// is installed in place of the payload's issuer files and the next renewal
// mints the member's certificates with it.
func TestWatcherInstallsOnlyAGoodPublishedIssuer(t *testing.T) {
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(t), OutDir: out}); err != nil {
		t.Fatal(err)
	}
	pkiDir := filepath.Join(out, "pki")
	e := etcdtest.Start(t, etcdtest.Member{PKIDir: pkiDir, DataDir: filepath.Join(t.TempDir(), "data")})
	cli := e.Client(t)
	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := os.ReadFile(filepath.Join(pkiDir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := pki.LoadAuthority(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, err := pki.NewRootCA("etcd", pki.KeySpec{}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	current := testGroupIssuer(t, root, time.Hour)
	next := testGroupIssuer(t, root, 24*time.Hour)

	// The node as a launch payload leaves it: the root, the issuer, no
	// certificates of its own yet.
	nodeRoot, p := launchedGroupNode(t, caPEM, current)
	logs := &syncBuffer{}
	a, err := NewAgent(Config{Root: nodeRoot, StateDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	a.issuerMetrics = monitoring.NewIssuerMetrics(reg)
	n := newNode(p, 6)
	if err := a.mintCertificates(n); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var f issuerFollower
	inUse := func() []byte {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(nodeRoot, p.TLS.IssuerCertFile))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	publish := func(pub pki.PublishedIssuer) {
		t.Helper()
		if _, err := cli.Put(ctx, pki.PublishedIssuerKey, string(pub.Marshal())); err != nil {
			t.Fatal(err)
		}
	}
	counted := func(result string) float64 {
		v, _ := metricValue(t, reg, monitoring.MetricIssuerRenewals, result)
		return v
	}

	a.followIssuer(ctx, cli, n, &f)
	if !bytes.Equal(inUse(), current.CertPEM()) || logs.take() != "" {
		t.Fatal("the watcher changed the issuer with nothing published")
	}

	for i, tc := range []struct {
		name string
		pub  pki.PublishedIssuer
		want string
	}{
		{"from another root", publishedOf(testGroupIssuer(t, otherRoot, 12*time.Hour)), "not signed by this cluster's root CA"},
		{"with wider name constraints", publishedOf(testGroupIssuer(t, root, 12*time.Hour, "10.0.0.0/8")), "it also permits IP 10.0.0.0/8: wider than the one in use"},
		{"expired", expiredIssuer(t, root, current.Certificate()), "outside its validity period: it expired at"},
		{"not JSON", pki.PublishedIssuer{}, "lacks the certificate or the key"},
	} {
		publish(tc.pub)
		a.followIssuer(ctx, cli, n, &f)
		a.followIssuer(ctx, cli, n, &f) // the same value again: said once
		if !bytes.Equal(inUse(), current.CertPEM()) {
			t.Fatalf("%s: the issuer in use changed", tc.name)
		}
		got := logs.take()
		if strings.Count(got, "refused the issuer published to the group; keeping the one in use") != 1 || !strings.Contains(got, tc.want) {
			t.Errorf("%s: log\n%s\nwant one refusal saying %q", tc.name, got, tc.want)
		}
		if c := counted(monitoring.PublishedRefused); c != float64(i+1) {
			t.Errorf("%s: %v refusals counted, want %d", tc.name, c, i+1)
		}
	}

	publish(publishedOf(next))
	a.followIssuer(ctx, cli, n, &f)
	if !bytes.Equal(inUse(), next.CertPEM()) {
		t.Fatal("the good issuer was not installed")
	}
	if key, _ := os.ReadFile(filepath.Join(nodeRoot, p.TLS.IssuerKeyFile)); !bytes.Equal(key, next.KeyPEM()) {
		t.Fatal("the issuer's certificate was installed without its key")
	}
	if got := logs.take(); !strings.Contains(got, "installed the issuer published to the group") {
		t.Errorf("log\n%s\nsays nothing of the installed issuer", got)
	}
	if c := counted(monitoring.PublishedInstalled); c != 1 {
		t.Errorf("%v installations counted, want 1", c)
	}
	if err := a.mintCertificates(n); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{p.TLS.ServerCertFile, p.TLS.PeerCertFile} {
		data, err := os.ReadFile(filepath.Join(nodeRoot, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := pki.VerifyChain(data, caPEM, nil, x509.ExtKeyUsageAny); err != nil {
			t.Errorf("%s: %v", file, err)
		}
		certs, _ := pki.ParseCertificates(data)
		if len(certs) < 2 || !bytes.Equal(certs[1].Raw, next.Certificate().Raw) || certs[0].CheckSignatureFrom(next.Certificate()) != nil {
			t.Errorf("%s was not renewed with the installed issuer", file)
		}
	}

	// The issuer it replaced, published again, is no renewal.
	publish(publishedOf(current))
	a.followIssuer(ctx, cli, n, &f)
	if !bytes.Equal(inUse(), next.CertPEM()) {
		t.Fatal("an older issuer replaced the one in use")
	}
	if got := logs.take(); !strings.Contains(got, "expires before the issuer in use") {
		t.Errorf("log\n%s\nwant the older issuer refused", got)
	}
}

func TestWatcherWarnsWhenTheIssuerHasAThirdOfItsLifeLeft(t *testing.T) {
	root, err := pki.NewRootCA("etcd", pki.KeySpec{}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issuer := testGroupIssuer(t, root, 3*time.Hour)
	c := issuer.Certificate()
	life := c.NotAfter.Sub(c.NotBefore)
	nodeRoot := t.TempDir()
	if err := os.WriteFile(filepath.Join(nodeRoot, "issuer.crt"), issuer.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	n := newNode(&spec.NodePayload{Node: &spec.Member{Name: "m", IPs: []string{"10.123.0.11"}}, TLS: spec.NodeTLS{IssuerCertFile: "/issuer.crt"}}, 6)
	// One follower, as the watcher keeps it, through times in order.
	var f issuerFollower
	for _, tc := range []struct {
		name  string
		at    time.Time
		warns bool
	}{
		{"half its life left", c.NotBefore.Add(life / 2), false},
		{"just over a third left", c.NotAfter.Add(-life/3 - time.Minute), false},
		{"just under a third left", c.NotAfter.Add(-life/3 + time.Minute), true},
		{"ten minutes on: already said", c.NotAfter.Add(-life/3 + 11*time.Minute), false},
		{"an hour on: said again", c.NotAfter.Add(-life/3 + 62*time.Minute), true},
	} {
		logs := &syncBuffer{}
		now := tc.at
		a, err := NewAgent(Config{Root: nodeRoot, StateDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(logs, nil)), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		reg := prometheus.NewPedanticRegistry()
		a.issuerMetrics = monitoring.NewIssuerMetrics(reg)
		a.watchIssuerLife(n, &f)
		got := logs.take()
		if warned := strings.Contains(got, "less than a third of its life left"); warned != tc.warns {
			t.Errorf("%s: warned=%v, want %v:\n%s", tc.name, warned, tc.warns, got)
		}
		if v, _ := metricValue(t, reg, monitoring.MetricIssuerNotAfter, ""); v != float64(c.NotAfter.Unix()) {
			t.Errorf("%s: not-after metric %v, want %d", tc.name, v, c.NotAfter.Unix())
		}
	}
}
