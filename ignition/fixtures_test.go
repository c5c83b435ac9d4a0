package ignition

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/spec"
)

// tlsDir is where the fixtures put certificates, as the generator does.
const tlsDir = spec.DefaultTLSDir

// testPayload is a realistic static-discovery payload for member 0 of n
// members on 192.168.2.51 and up, tuned like the manual procedure.
func testPayload(n int) spec.NodePayload {
	members := make([]spec.Member, n)
	for i := range members {
		members[i] = spec.Member{
			Name: fmt.Sprintf("etcd%d", i+1),
			IPs:  []string{fmt.Sprintf("192.168.2.%d", 51+i)},
			FQDN: fmt.Sprintf("etcd%d.etcd.example.internal", i+1),
		}
	}
	node := members[0]
	return spec.NodePayload{
		APIVersion: spec.APIVersion,
		Cluster:    "etcd-cluster",
		Token:      "etcd-cluster-1",
		Node:       &node,
		Members:    members,
		Etcd: spec.Etcd{
			Version:           spec.DefaultEtcdVersion,
			DataDir:           spec.DefaultDataDir,
			ConfigFormat:      spec.ConfigEnv,
			ClientPort:        spec.DefaultClientPort,
			PeerPort:          spec.DefaultPeerPort,
			MetricsPort:       spec.DefaultMetricsPort,
			HeartbeatInterval: spec.Duration(100 * time.Millisecond),
			ElectionTimeout:   spec.Duration(500 * time.Millisecond),
			SnapshotCount:     5000,
		},
		Discovery: spec.Discovery{Mode: spec.DiscoveryStatic},
		Firewall: spec.Firewall{
			ClientCIDRs:     []string{"192.168.2.0/24"},
			MonitoringCIDRs: []string{"192.168.2.0/24"},
		},
		TLS: spec.NodeTLS{
			CAFile:         tlsDir + "/ca.crt",
			ServerCertFile: tlsDir + "/server.crt",
			ServerKeyFile:  tlsDir + "/server.key",
			PeerCertFile:   tlsDir + "/peer.crt",
			PeerKeyFile:    tlsDir + "/peer.key",
		},
	}
}

// placeholderBundle is the golden bundle: three members, fixed placeholder
// "PEM" contents, no key material.
func placeholderBundle() Bundle {
	p := testPayload(3)
	placeholder := func(what string) []byte {
		return []byte("placeholder " + what + " for etcd1 (the golden files carry no real keys)\n")
	}
	return Bundle{
		Payload:  p,
		Hostname: "etcd1",
		Files: []File{
			{Path: p.TLS.CAFile, Contents: placeholder("CA certificate")},
			{Path: p.TLS.ServerCertFile, Contents: placeholder("server certificate")},
			{Path: p.TLS.ServerKeyFile, Contents: placeholder("server key"), Secret: true},
			{Path: p.TLS.PeerCertFile, Contents: placeholder("peer certificate")},
			{Path: p.TLS.PeerKeyFile, Contents: placeholder("peer key"), Secret: true},
		},
	}
}

var (
	rsaOnce   sync.Once
	rsaBundle Bundle
	rsaErr    error
)

// rsaFiveMemberBundle is member 0 of a five-member cluster with real RSA 2048
// certificates and keys, made the way the manual procedure's cfssl makes
// them, so the sizes are honest. It is built once per test binary.
func rsaFiveMemberBundle(t *testing.T) Bundle {
	t.Helper()
	rsaOnce.Do(func() { rsaBundle, rsaErr = makeRSABundle(5) })
	if rsaErr != nil {
		t.Fatalf("make the RSA bundle: %v", rsaErr)
	}
	return rsaBundle
}

func makeRSABundle(n int) (Bundle, error) {
	p := testPayload(n)
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Bundle{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "etcd", Organization: []string{"etcd-cluster"}},
		NotBefore:             now,
		NotAfter:              now.Add(87600 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return Bundle{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return Bundle{}, err
	}

	// SANs as the generator issues them: every member name, FQDN and IP
	// (the manual procedure's "hosts"), plus localhost.
	dns := []string{"localhost"}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	for _, m := range p.Members {
		dns = append(dns, m.Name, m.FQDN)
		for _, ip := range m.IPs {
			ips = append(ips, net.ParseIP(ip))
		}
	}
	leaf := func(serial int64, cn string) (certPEM, keyPEM []byte, err error) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn, Organization: []string{"etcd-cluster"}},
			NotBefore:    now,
			NotAfter:     now.Add(87600 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames:     dns,
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
			nil
	}
	serverCert, serverKey, err := leaf(2, p.Node.Name)
	if err != nil {
		return Bundle{}, err
	}
	peerCert, peerKey, err := leaf(3, p.Node.Name)
	if err != nil {
		return Bundle{}, err
	}
	return Bundle{
		Payload:  p,
		Hostname: p.Node.Name,
		Files: []File{
			{Path: p.TLS.CAFile, Contents: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})},
			{Path: p.TLS.ServerCertFile, Contents: serverCert},
			{Path: p.TLS.ServerKeyFile, Contents: serverKey, Secret: true},
			{Path: p.TLS.PeerCertFile, Contents: peerCert},
			{Path: p.TLS.PeerKeyFile, Contents: peerKey, Secret: true},
		},
	}, nil
}

// wantFile is what a node should end up with at one path.
type wantFile struct {
	Mode     fs.FileMode // not compared for appends: the image's file keeps its mode
	Owner    string      // user and group, "root" or "etcd"
	Contents []byte
	Append   bool
}

// expectedFiles is what a rendering of b must write, by path. Ignition sets
// the hostname with /etc/hostname (hostnameFile); cloud-init with its own
// hostname key.
func expectedFiles(t *testing.T, b Bundle, hostnameFile bool) map[string]wantFile {
	t.Helper()
	r, err := b.prepare()
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	want := map[string]wantFile{
		r.payloadPath: {Mode: 0o600, Owner: "root", Contents: r.payload},
	}
	for _, f := range b.Files {
		w := wantFile{Mode: 0o644, Owner: "root", Contents: f.Contents}
		if f.Mode != 0 {
			w.Mode = f.Mode
		}
		if f.Secret {
			w.Owner = EtcdUser
			if f.Mode == 0 {
				w.Mode = 0o600
			}
		}
		want[f.Path] = w
	}
	if hosts := HostsEntries(b.Payload.Members); hosts != "" {
		want["/etc/hosts"] = wantFile{Owner: "root", Contents: []byte(hosts), Append: true}
	}
	if b.Hostname != "" && hostnameFile {
		want["/etc/hostname"] = wantFile{Mode: 0o644, Owner: "root", Contents: []byte(b.Hostname + "\n")}
	}
	return want
}

// compareFiles reports every difference between want and got.
func compareFiles(t *testing.T, format string, want, got map[string]wantFile) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: %s is not written", format, p)
			continue
		}
		if w.Append != g.Append {
			t.Errorf("%s: %s: append = %v, want %v", format, p, g.Append, w.Append)
		}
		if !w.Append && w.Mode != g.Mode {
			t.Errorf("%s: %s: mode = %#o, want %#o", format, p, g.Mode, w.Mode)
		}
		if w.Owner != g.Owner {
			t.Errorf("%s: %s: owner = %q, want %q", format, p, g.Owner, w.Owner)
		}
		if string(w.Contents) != string(g.Contents) {
			t.Errorf("%s: %s: contents differ:\n got: %q\nwant: %q", format, p, g.Contents, w.Contents)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected file %s", format, p)
		}
	}
}
