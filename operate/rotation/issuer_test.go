package rotation

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/pki"
)

const groupYAML = `apiVersion: etcdboot/v1
name: grp
etcd:
  version: 3.6.16
autoscaling:
  size: 3
  subnets: [10.0.1.0/24]
  domain: etcd.example.internal
  namePrefix: etcd-
  seeds: [10.0.1.10, 10.0.1.11, 10.0.1.12]
payload:
  formats: [cloud-init]
`

// TestRotateIssuerRenewsAndPublishesThroughTheGroup generates a group, runs
// a real etcd on loopback with a server certificate of the group's CA and
// renews the issuer: the new one is under the same root with the same
// constraints, published at /etcdboot/issuer as the members read it, carried
// by the new launch payload, and the old one is kept aside.
func TestRotateIssuerRenewsAndPublishesThroughTheGroup(t *testing.T) {
	dir := t.TempDir()
	specPath, out := filepath.Join(dir, "cluster.yaml"), filepath.Join(dir, "out")
	writeFile(t, specPath, []byte(groupYAML))
	if _, err := generate.Run(generate.Options{SpecPath: specPath, OutDir: out}); err != nil {
		t.Fatal(err)
	}
	pkiDir := pki.Dir{Path: filepath.Join(out, "pki")}
	old, err := readIssuer(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	// A member for the test: a server and peer certificate of the group's
	// root for 127.0.0.1, where etcdtest runs it.
	caCert, caKey, err := readPair(pkiDir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	root, err := pki.LoadAuthority([]byte(caCert), []byte(caKey))
	if err != nil {
		t.Fatal(err)
	}
	server, peer := pki.MemberRequests("etcd1", "", []net.IP{net.ParseIP("127.0.0.1")}, nil, pki.KeySpec{}, time.Hour)
	memberDir := pki.Dir{Path: t.TempDir()}
	for name, req := range map[string]pki.Request{"etcd1-server": server, "etcd1-peer": peer} {
		if _, err := memberDir.EnsureCert(root, name, req, false); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, memberDir.CertPath("ca"), []byte(caCert))
	adminCert, adminKey, err := readPair(pkiDir, "admin")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, memberDir.CertPath("admin"), []byte(adminCert))
	writeFile(t, memberDir.KeyPath("admin"), []byte(adminKey))
	e := etcdtest.Start(t, etcdtest.Member{PKIDir: memberDir.Path, DataDir: filepath.Join(t.TempDir(), "data")})

	at := time.Now()
	res, err := RotateIssuer(context.Background(), LiveOptions{
		RotateOptions: RotateOptions{SpecPath: specPath, OutDir: out, Now: func() time.Time { return at }},
		Endpoints:     []string{e.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Old.Serial == res.New.Serial || res.Old.Serial != serialHex(old.Certificate().SerialNumber) {
		t.Errorf("old %s, new %s: not renewed", res.Old.Serial, res.New.Serial)
	}
	if res.BackupDir != filepath.Join(pkiDir.Path, "rotated-"+at.UTC().Format("20060102T150405Z")) || res.Launch != filepath.Join(out, "nodes", "launch") {
		t.Errorf("backup %s, launch %s", res.BackupDir, res.Launch)
	}
	if kept, err := os.ReadFile(filepath.Join(res.BackupDir, "issuer.crt")); err != nil || !bytes.Equal(kept, old.CertPEM()) {
		t.Errorf("the previous issuer is not kept in %s (%v)", res.BackupDir, err)
	}

	// What the members read.
	cli := e.Client(t)
	resp, err := cli.Get(context.Background(), pki.PublishedIssuerKey)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v", pki.PublishedIssuerKey, err)
	}
	if resp.Kvs[0].ModRevision != res.Revision {
		t.Errorf("published at revision %d, reported %d", resp.Kvs[0].ModRevision, res.Revision)
	}
	pub, err := pki.ParsePublishedIssuer(resp.Kvs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := pki.ParseCertificates([]byte(caCert))
	next, err := pki.CheckRenewedIssuer(old.Certificate(), pub, roots, time.Now())
	if err != nil {
		t.Fatalf("a member would refuse the published issuer: %v", err)
	}
	if serialHex(next.Certificate().SerialNumber) != res.New.Serial {
		t.Errorf("published serial %s, reported %s", serialHex(next.Certificate().SerialNumber), res.New.Serial)
	}
	if bytes.Equal(next.KeyPEM(), old.KeyPEM()) {
		t.Error("the renewed issuer kept the old key")
	}

	// What new instances get.
	userData, err := os.ReadFile(filepath.Join(res.Launch, "user-data"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := bootstrap.ReadCloudInit(userData)
	if err != nil {
		t.Fatal(err)
	}
	if got := files["/etc/etcdboot/pki/issuer.crt"]; !bytes.Equal(got, next.CertPEM()) {
		t.Errorf("the launch payload carries issuer.crt\n%s\nwant the new one", got)
	}
	if got := files["/etc/etcdboot/pki/issuer.key"]; !bytes.Equal(got, next.KeyPEM()) {
		t.Error("the launch payload does not carry the new issuer's key")
	}

	var b bytes.Buffer
	if err := WriteIssuerRotation(&b, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{res.Old.Serial + " (expires", "-> " + res.New.Serial, "published at /etcdboot/issuer", "put " + res.Launch + " in the launch template"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRotateIssuerNeedsAGroup(t *testing.T) {
	specPath, out, _ := generated(t)
	_, err := RotateIssuer(context.Background(), LiveOptions{RotateOptions: RotateOptions{SpecPath: specPath, OutDir: out}})
	if !errors.Is(err, ErrNoGroup) {
		t.Fatalf("err = %v, want ErrNoGroup", err)
	}
}

func TestRotateIssuerThatCannotPublishSaysSo(t *testing.T) {
	dir := t.TempDir()
	specPath, out := filepath.Join(dir, "cluster.yaml"), filepath.Join(dir, "out")
	writeFile(t, specPath, []byte(groupYAML))
	if _, err := generate.Run(generate.Options{SpecPath: specPath, OutDir: out}); err != nil {
		t.Fatal(err)
	}
	port := etcdtest.FreePort(t)
	_, err := RotateIssuer(context.Background(), LiveOptions{RotateOptions: RotateOptions{SpecPath: specPath, OutDir: out},
		Endpoints: []string{"https://127.0.0.1:" + strconv.Itoa(port)}, Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "was not published to the group") || !strings.Contains(err.Error(), "run etcdboot certs rotate --issuer again") {
		t.Fatalf("err = %v", err)
	}
}
