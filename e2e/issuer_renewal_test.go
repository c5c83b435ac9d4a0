package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/cfssl/helpers"

	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/operate/rotation"
	"github.com/etcdboot/etcdboot/pki"
)

// groupPKI is the generator's root CA and group issuer of c.
func groupPKI(t *testing.T, c *testcluster.Cluster) (root, issuer *pki.Authority) {
	t.Helper()
	load := func(name string) *pki.Authority {
		dir := pki.Dir{Path: filepath.Join(c.Out, "pki")}
		cert, err := os.ReadFile(dir.CertPath(name))
		if err != nil {
			t.Fatal(err)
		}
		key, err := os.ReadFile(dir.KeyPath(name))
		if err != nil {
			t.Fatal(err)
		}
		a, err := pki.LoadAuthority(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	return load("ca"), load("issuer")
}

// issuerLike makes, with root, an issuer with like's name and constraints
// plus extra ranges, valid for life from now (the generator backdates by
// five minutes, which the expiry covers).
func issuerLike(t *testing.T, root *pki.Authority, like *x509.Certificate, life time.Duration, extra ...string) *pki.Authority {
	t.Helper()
	ranges := append([]*net.IPNet(nil), like.PermittedIPRanges...)
	for _, r := range extra {
		_, n, err := net.ParseCIDR(r)
		if err != nil {
			t.Fatal(err)
		}
		ranges = append(ranges, n)
	}
	inter, err := root.NewIntermediate(pki.IntermediateRequest{
		CommonName: like.Subject.CommonName, PermittedDNSDomains: like.PermittedDNSDomains,
		PermittedIPRanges: ranges, Expiry: 5*time.Minute + life,
	})
	if err != nil {
		t.Fatal(err)
	}
	return inter
}

// useShortLivedIssuer replaces c's generated issuer with one that ends life
// from now and regenerates, so the launch payload carries it.
func useShortLivedIssuer(t *testing.T, c *testcluster.Cluster, life time.Duration) *pki.Authority {
	t.Helper()
	root, generated := groupPKI(t, c)
	short := issuerLike(t, root, generated.Certificate(), life)
	dir := pki.Dir{Path: filepath.Join(c.Out, "pki")}
	if err := os.WriteFile(dir.KeyPath("issuer"), short.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir.CertPath("issuer"), short.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := generate.Run(generate.Options{SpecPath: filepath.Join(c.Opts.WorkDir, "cluster.yaml"), OutDir: c.Out})
	if err != nil {
		t.Fatal(err)
	}
	c.Result = res
	if _, now := groupPKI(t, c); !bytes.Equal(now.CertPEM(), short.CertPEM()) {
		t.Fatal("the generator replaced the short-lived issuer")
	}
	return short
}

// servedIssuer is the intermediate in the chain n serves on its client port,
// from a new handshake.
func servedIssuer(c *testcluster.Cluster, n *testcluster.Node) (*x509.Certificate, error) {
	conf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		return nil, err
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", n.Addr.String()+":2379", conf)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	chain := conn.ConnectionState().PeerCertificates
	if len(chain) < 2 {
		return nil, fmt.Errorf("%s serves no intermediate", n.Name)
	}
	return chain[1], nil
}

// fileIssuer is the certificate after the first in a node's PEM file (the
// issuer of a minted bundle), or the first when it is alone (issuer.crt).
func fileIssuer(n *testcluster.Node, name string) (*x509.Certificate, error) {
	data, err := os.ReadFile(filepath.Join(n.Root, "etc/etcdboot/pki", name))
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	return certs[len(certs)-1], nil
}

// usesIssuer says what of n does not use issuer yet: its issuer file,
// its server and peer bundles, the chain it serves.
func usesIssuer(c *testcluster.Cluster, n *testcluster.Node, issuer *x509.Certificate) []string {
	var behind []string
	for _, f := range []string{"issuer.crt", "server.crt", "peer.crt"} {
		if got, err := fileIssuer(n, f); err != nil || !got.Equal(issuer) {
			behind = append(behind, f)
		}
	}
	if got, err := servedIssuer(c, n); err != nil || !got.Equal(issuer) {
		behind = append(behind, "served chain")
	}
	return behind
}

func agentLog(t *testing.T, n *testcluster.Node) string {
	t.Helper()
	data, err := os.ReadFile(n.Agent.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestIssuerRenewalInAGroup launches a group whose issuer ends about four
// minutes later and renews it with `certs rotate --issuer`: every member
// installs the published issuer and renews its certificates with it before
// the old one expires, a replacement instance launched with the new payload
// joins, and once the old issuer has expired every member still answers
// new connections.
func TestIssuerRenewalInAGroup(t *testing.T) {
	c := newCluster(t, testcluster.Options{GroupSize: 3, Seeds: []int{11, 12, 13}})
	old := useShortLivedIssuer(t, c, 4*time.Minute).Certificate()
	t.Logf("short-lived issuer %s ends at %s (in %s)", old.SerialNumber.Text(16), old.NotAfter.Format(time.RFC3339), time.Until(old.NotAfter).Round(time.Second))
	for _, h := range []int{11, 12, 13} {
		if _, err := c.AddNode(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.StartAll("--renew-interval", "2s"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if behind := usesIssuer(c, n, old); len(behind) > 0 {
			t.Fatalf("%s: %v not from the launch payload's issuer", n.Name, behind)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := rotation.RotateIssuer(ctx, rotation.LiveOptions{RotateOptions: rotation.RotateOptions{SpecPath: filepath.Join(c.Opts.WorkDir, "cluster.yaml"), OutDir: c.Out}})
	if err != nil {
		t.Fatal(err)
	}
	_, renewed := groupPKI(t, c)
	next := renewed.Certificate()
	t.Logf("certs rotate --issuer: %s -> %s (ends %s), published at revision %d in %s", res.Old.Serial, res.New.Serial, next.NotAfter.Format(time.RFC3339), res.Revision, time.Since(start).Round(time.Millisecond))

	for {
		var behind []string
		for _, n := range c.Nodes {
			if b := usesIssuer(c, n, next); len(b) > 0 {
				behind = append(behind, fmt.Sprintf("%s: %v", n.Name, b))
			}
		}
		if len(behind) == 0 {
			break
		}
		if time.Now().After(old.NotAfter) {
			t.Fatalf("the old issuer expired before every member renewed from the new one: %v", behind)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("every member serves certificates from the new issuer %s after publishing, %s before the old one ends",
		time.Since(start).Round(100*time.Millisecond), time.Until(old.NotAfter).Round(time.Second))
	for _, n := range c.Nodes {
		if log := agentLog(t, n); !strings.Contains(log, "installed the issuer published to the group") {
			t.Errorf("%s logged no installation:\n%s", n.Name, n.Agent.Tail(20))
		}
		if m := scrapeAgent(t, c, n); !strings.Contains(m, `etcdboot_issuer_renewals_total{result="installed"} 1`) ||
			!strings.Contains(m, fmt.Sprintf("etcdboot_issuer_not_after_timestamp_seconds %g", float64(next.NotAfter.Unix()))) {
			t.Errorf("%s's metrics do not show the installed issuer:\n%s", n.Name, grepLines(m, "etcdboot_issuer"))
		}
	}

	// A replacement launched from the new launch payload joins.
	c.Result = res.Generate
	dead := c.Nodes[2]
	fresh, err := c.ReplaceNode(dead, 14, "--renew-interval", "2s")
	if err != nil {
		t.Fatal(err)
	}
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-14")
	if behind := usesIssuer(c, fresh, next); len(behind) > 0 {
		t.Errorf("the replacement's %v are not from the new launch payload's issuer", behind)
	}

	// Past the old issuer's end, new connections to every member work.
	if wait := time.Until(old.NotAfter) + 5*time.Second; wait > 0 {
		t.Logf("waiting %s for the old issuer to expire", wait.Round(time.Second))
		time.Sleep(wait)
	}
	for i, n := range c.Nodes {
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.Put(pctx, n.ClientURL(), fmt.Sprintf("/after-issuer-expiry/%d", i), "ok")
		pcancel()
		if err != nil {
			t.Errorf("put through %s after the old issuer expired: %v", n.Name, err)
		}
	}
	assertVoters(t, c, fresh, "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-14")
}

// TestIssuerRenewalRefusesBadIssuers publishes, in a running group, an
// issuer from another root, one with wider name constraints and an expired
// one: every member refuses each with a log line saying why and counts it,
// and keeps the issuer it has.
func TestIssuerRenewalRefusesBadIssuers(t *testing.T) {
	c := newCluster(t, testcluster.Options{GroupSize: 3, Seeds: []int{11, 12, 13}})
	for _, h := range []int{11, 12, 13} {
		if _, err := c.AddNode(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.StartAll("--renew-interval", "1s"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	root, current := groupPKI(t, c)
	otherRoot, err := pki.NewRootCA("etcd", pki.KeySpec{}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	published := func(a *pki.Authority) pki.PublishedIssuer {
		return pki.PublishedIssuer{CertPEM: string(a.CertPEM()), KeyPEM: string(a.KeyPEM())}
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i, tc := range []struct {
		name string
		pub  pki.PublishedIssuer
		want string
	}{
		{"another root", published(issuerLike(t, otherRoot, current.Certificate(), 48*time.Hour)), "not signed by this cluster's root CA"},
		{"wider name constraints", published(issuerLike(t, root, current.Certificate(), 48*time.Hour, "10.0.0.0/8")), "it also permits IP 10.0.0.0/8: wider than the one in use"},
		{"expired", expiredIssuerLike(t, root, current.Certificate()), "outside its validity period: it expired at"},
	} {
		start := time.Now()
		if _, err := cli.Put(ctx, pki.PublishedIssuerKey, string(tc.pub.Marshal())); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for _, n := range c.Nodes {
			for {
				log := agentLog(t, n)
				if strings.Count(log, "refused the issuer published to the group; keeping the one in use") == i+1 && strings.Contains(log, tc.want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s did not refuse it saying %q:\n%s", tc.name, n.Name, tc.want, n.Agent.Tail(15))
				}
				time.Sleep(200 * time.Millisecond)
			}
			if m := scrapeAgent(t, c, n); !strings.Contains(m, fmt.Sprintf(`etcdboot_issuer_renewals_total{result="refused"} %d`, i+1)) {
				t.Errorf("%s: %s's metrics do not count the refusal:\n%s", tc.name, n.Name, grepLines(m, "etcdboot_issuer"))
			}
			if behind := usesIssuer(c, n, current.Certificate()); len(behind) > 0 {
				t.Errorf("%s: %s changed its %v", tc.name, n.Name, behind)
			}
		}
		t.Logf("%s: refused by every member within %s", tc.name, time.Since(start).Round(100*time.Millisecond))
	}
	for _, n := range c.Nodes {
		line := lastLine(agentLog(t, n), "refused the issuer")
		t.Logf("%s: %s", n.Name, line)
	}
	if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/still", "fine"); err != nil {
		t.Fatal(err)
	}
}

// expiredIssuerLike signs, with root's key, an issuer with like's name and
// constraints whose validity ended an hour ago: cfssl refuses to make one.
func expiredIssuerLike(t *testing.T, root *pki.Authority, like *x509.Certificate) pki.PublishedIssuer {
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

// grepLines are the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// lastLine is the last line of s that contains sub.
func lastLine(s, sub string) string {
	lines := strings.Split(grepLines(s, sub), "\n")
	return lines[len(lines)-1]
}
