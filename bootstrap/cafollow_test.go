package bootstrap

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/pki"
)

// TestWatcherTakesAGroupMemberThroughACARotation runs a real etcd on
// loopback and publishes a group's CA rotation at /etcdboot/ca and
// /etcdboot/issuer as etcdboot certs rotate --ca does, phase by phase: the
// watcher installs (a) the bundle of both CAs, (b) the bundle with the new
// CA first and the new CA's issuer, with whose chain the next renewal mints
// certificates that verify to the old root alone and to the new one alone,
// and (c) the bundle without the old CA. Dropping the old CA while the old
// issuer is in use, and another cluster's CA, are refused, said once, and
// leave the file as it was.
func TestWatcherTakesAGroupMemberThroughACARotation(t *testing.T) {
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
	old, err := pki.LoadAuthority(caPEM, caKey)
	if err != nil {
		t.Fatal(err)
	}
	next, err := pki.NewSuccessorCA(old, pki.KeySpec{}, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, err := pki.NewRootCA("etcd", pki.KeySpec{}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	oldIssuer := testGroupIssuer(t, old, time.Hour)
	newIssuer := testGroupIssuer(t, next, 24*time.Hour)

	nodeRoot, p := launchedGroupNode(t, old.CertPEM(), oldIssuer)
	logs := &syncBuffer{}
	a, err := NewAgent(Config{Root: nodeRoot, StateDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(p, 6)
	if err := a.mintCertificates(n); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var caChecked int64
	var issuer issuerFollower
	installedCA := func() []byte {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(nodeRoot, p.TLS.CAFile))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	put := func(key string, value []byte) {
		t.Helper()
		if _, err := cli.Put(ctx, key, string(value)); err != nil {
			t.Fatal(err)
		}
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	// renewal is what the watcher does at each renewal interval.
	renewal := func() {
		a.followPublishedCA(ctx, cli, n, &caChecked)
		a.followIssuer(ctx, cli, n, &issuer)
		if err := a.mintCertificates(n); err != nil {
			t.Fatal(err)
		}
	}

	renewal()
	if !bytes.Equal(installedCA(), old.CertPEM()) || strings.Contains(logs.take(), "CA bundle") {
		t.Fatal("the watcher changed the CA file with nothing published")
	}

	trustBoth := cat(old.CertPEM(), next.CertPEM())
	put(pki.PublishedCAKey, trustBoth)
	renewal()
	if !bytes.Equal(installedCA(), trustBoth) {
		t.Fatal("(a): the bundle of both CAs was not installed")
	}
	if got := logs.take(); !strings.Contains(got, "installed the CA bundle published to the group") {
		t.Errorf("(a): log\n%s\nsays nothing of the installed bundle", got)
	}

	// Dropping the old CA before the new issuer is in use is refused.
	oldDropped := cat(next.CertPEM(), next.ChainPEM())
	put(pki.PublishedCAKey, oldDropped)
	renewal()
	renewal()
	if !bytes.Equal(installedCA(), trustBoth) {
		t.Fatal("a bundle without the CA of the issuer in use was installed")
	}
	if got := logs.take(); strings.Count(got, "refused the CA bundle published to the group") != 1 || !strings.Contains(got, "the issuer in use does not chain to it") {
		t.Errorf("log\n%s\nwant one refusal: the issuer in use does not chain to it", got)
	}
	put(pki.PublishedCAKey, otherRoot.CertPEM())
	renewal()
	if !bytes.Equal(installedCA(), trustBoth) {
		t.Fatal("another cluster's CA was installed")
	}
	if got := logs.take(); !strings.Contains(got, "shares no certificate with the installed CA bundle") {
		t.Errorf("log\n%s\nwant another cluster's CA refused", got)
	}

	newFirst := cat(next.CertPEM(), next.ChainPEM(), old.CertPEM())
	put(pki.PublishedCAKey, newFirst)
	put(pki.PublishedIssuerKey, pki.PublishedIssuer{CertPEM: string(newIssuer.ChainPEM()), KeyPEM: string(newIssuer.KeyPEM())}.Marshal())
	renewal()
	if !bytes.Equal(installedCA(), newFirst) {
		t.Fatal("(b): the bundle with the new CA first was not installed")
	}
	for _, file := range []string{p.TLS.ServerCertFile, p.TLS.PeerCertFile} {
		data, err := os.ReadFile(filepath.Join(nodeRoot, file))
		if err != nil {
			t.Fatal(err)
		}
		certs, _ := pki.ParseCertificates(data)
		if len(certs) != 3 || !certs[1].Equal(newIssuer.Certificate()) {
			t.Fatalf("(b): %s holds %d certificates, want the leaf, the new issuer and the cross-certificate", file, len(certs))
		}
		// What a running member that loaded only the old CA checks, and
		// what one started after phase (c) checks.
		for name, root := range map[string][]byte{"old": old.CertPEM(), "new": next.CertPEM()} {
			if err := pki.VerifyChain(data, root, nil, x509.ExtKeyUsageAny); err != nil {
				t.Errorf("(b): %s does not verify to the %s root alone: %v", file, name, err)
			}
		}
	}

	put(pki.PublishedCAKey, oldDropped)
	renewal()
	if !bytes.Equal(installedCA(), oldDropped) {
		t.Fatalf("(c): the bundle without the old CA was not installed; log:\n%s", logs.take())
	}
}
