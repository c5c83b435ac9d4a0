package generate

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/ignition"
	"github.com/etcdboot/etcdboot/spec"
)

// requireTool returns the path of a real validator, failing the test when it
// is missing and end-to-end tests are required (CI), skipping otherwise.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			t.Fatalf("%s is not installed; run make deps", name)
		}
		t.Skipf("%s is not installed; run make deps", name)
	}
	return p
}

func run(t *testing.T, dir string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

func TestGenerateExamplesPassRealValidators(t *testing.T) {
	cloudInit := requireTool(t, "cloud-init")
	promtool := requireTool(t, "promtool")
	examples, _ := filepath.Glob("../examples/*/cluster.yaml")
	if len(examples) < 4 {
		t.Fatalf("examples: %v", examples)
	}
	for _, ex := range examples {
		t.Run(filepath.Base(filepath.Dir(ex)), func(t *testing.T) {
			out := t.TempDir()
			res, err := Run(Options{SpecPath: ex, OutDir: out})
			if err != nil {
				t.Fatal(err)
			}
			nodes := res.Nodes
			if res.Launch != nil {
				nodes = append(nodes, *res.Launch)
			}
			if len(nodes) == 0 {
				t.Fatal("no node payloads")
			}
			for _, n := range nodes {
				if _, err := spec.LoadNodePayload(filepath.Join(n.Dir, "node.yaml")); err != nil {
					t.Errorf("node.yaml of %s does not load back: %v", n.Name, err)
				}
				for _, f := range res.Cluster.Payload.Formats {
					switch f {
					case spec.FormatIgnition:
						data, err := os.ReadFile(filepath.Join(n.Dir, "ignition.json"))
						if err != nil {
							t.Fatal(err)
						}
						if err := ignition.ValidateIgnition(data); err != nil {
							t.Errorf("%s: %v", n.Name, err)
						}
						if len(data) > ignition.MaxUserData {
							t.Errorf("%s: ignition.json is %d bytes", n.Name, len(data))
						}
					case spec.FormatCloudInit:
						ud := filepath.Join(n.Dir, "user-data")
						got := run(t, "", cloudInit, "schema", "-c", ud)
						if !strings.Contains(got, "Valid cloud-config") {
							t.Errorf("cloud-init schema: %s", got)
						}
						if st, _ := os.Stat(ud); st.Size() > ignition.MaxUserData {
							t.Errorf("%s: user-data is %d bytes", n.Name, st.Size())
						}
					}
				}
			}
			run(t, filepath.Join(out, "monitoring"), promtool, "check", "config", "prometheus.yml")
			if d := res.Cluster.Discovery.DNS; d != nil {
				data, err := os.ReadFile(ZonePath(out, d.Domain))
				if err != nil {
					t.Fatal(err)
				}
				z, err := discovery.ParseZone(bytes.NewReader(data), d.Domain, "zone")
				if err != nil {
					t.Fatal(err)
				}
				if got := z.Lookup("_etcd-server-ssl._tcp."+d.Domain+".", 33); len(got) != len(res.Cluster.Members) {
					t.Errorf("SRV records: %v", got)
				}
			}
		})
	}
}

func TestGenerateKeepsKeysUnlessRotated(t *testing.T) {
	out := t.TempDir()
	opts := Options{SpecPath: "../examples/three-node-static/cluster.yaml", OutDir: out}
	if _, err := Run(opts); err != nil {
		t.Fatal(err)
	}
	before := snapshotTree(t, out)
	if _, err := Run(opts); err != nil {
		t.Fatal(err)
	}
	after := snapshotTree(t, out)
	for name, data := range before {
		if !bytes.Equal(data, after[name]) {
			t.Errorf("%s changed on a rerun", name)
		}
	}
	for _, key := range []string{"pki/ca.key", "pki/etcd1-server.key", "pki/admin.key"} {
		st, err := os.Stat(filepath.Join(out, key))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", key, st.Mode().Perm())
		}
	}
	opts.Rotate = true
	if _, err := Run(opts); err != nil {
		t.Fatal(err)
	}
	rotated := snapshotTree(t, out)
	if bytes.Equal(before["pki/ca.key"], rotated["pki/ca.key"]) || bytes.Equal(before["pki/etcd1-peer.key"], rotated["pki/etcd1-peer.key"]) {
		t.Error("--rotate kept the old keys")
	}
}

func snapshotTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestRemapMovesEveryAddress(t *testing.T) {
	r, err := ParseRemap("192.168.2.0/24=10.123.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(Options{SpecPath: "../examples/three-node-static/cluster.yaml", OutDir: t.TempDir(), Remaps: []Remap{r}})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Cluster
	if c.Members[0].IPs[0] != "10.123.0.51" || c.Members[2].IPs[0] != "10.123.0.53" || c.Firewall.ClientCIDRs[0] != "10.123.0.0/24" {
		t.Errorf("remapped cluster: %+v %+v", c.Members, c.Firewall)
	}
	cert := readCert(t, filepath.Join(filepath.Dir(res.Nodes[0].Dir), "..", "pki", "etcd1-server.crt"))
	if !containsIP(cert.IPAddresses, "10.123.0.51") {
		t.Errorf("server cert IPs %v", cert.IPAddresses)
	}
	for _, bad := range []string{"192.168.2.0/24", "192.168.2.0/24=10.0.0.0/16", "x=y"} {
		if _, err := ParseRemap(bad); err == nil {
			t.Errorf("ParseRemap(%q) accepted", bad)
		}
	}
}

func TestDNSModeCertificatesNameTheSRVDomainAndTarget(t *testing.T) {
	res, err := Run(Options{SpecPath: "../examples/dns/cluster.yaml", OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Dir(filepath.Dir(res.Nodes[0].Dir))
	cert := readCert(t, filepath.Join(out, "pki", "etcd2-peer.crt"))
	for _, want := range []string{"etcd.example.internal", "etcd2.etcd.example.internal", "etcd2", "localhost"} {
		if !containsString(cert.DNSNames, want) {
			t.Errorf("peer cert DNS names %v lack %s", cert.DNSNames, want)
		}
	}
	for _, want := range []string{"192.168.2.52", "127.0.0.1", "::1"} {
		if !containsIP(cert.IPAddresses, want) {
			t.Errorf("peer cert IPs %v lack %s", cert.IPAddresses, want)
		}
	}
}

func TestAutoscalingLaunchPayloadCarriesNoRootKey(t *testing.T) {
	res, err := Run(Options{SpecPath: "../examples/autoscaling/cluster.yaml", OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Launch == nil || len(res.Nodes) != 0 {
		t.Fatalf("want one launch payload, got %+v", res)
	}
	rootKey, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(res.Launch.Dir)), "pki", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	var issuer *x509.Certificate
	for _, f := range res.Launch.Bundle.Files {
		if bytes.Equal(f.Contents, rootKey) {
			t.Fatalf("%s is the root key", f.Path)
		}
		if f.Path == res.Launch.Bundle.Payload.TLS.IssuerCertFile {
			issuer = parseCert(t, f.Contents)
		}
	}
	if issuer == nil || !issuer.IsCA || len(issuer.PermittedIPRanges) == 0 || !issuer.PermittedDNSDomainsCritical {
		t.Fatalf("issuer is not a name-constrained CA: %+v", issuer)
	}
	if life := issuer.NotAfter.Sub(issuer.NotBefore); life > 31*24*time.Hour {
		t.Errorf("intermediate lives %v, want short-lived", life)
	}
}

func TestKubeadmExternalEtcd(t *testing.T) {
	out := t.TempDir()
	if _, err := Run(Options{SpecPath: "../examples/three-node-static/cluster.yaml", OutDir: out}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(out, "kubeadm", "etcd-external.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: ClusterConfiguration", "https://192.168.2.51:2379", "caFile: /etc/kubernetes/pki/etcd/ca.crt", "certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("etcd-external.yaml lacks %q:\n%s", want, data)
		}
	}
	cert := readCert(t, filepath.Join(out, "kubeadm", "pki", "apiserver-etcd-client.crt"))
	if cert.Subject.CommonName != "kube-apiserver-etcd-client" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:masters" {
		t.Errorf("apiserver client cert subject %v", cert.Subject)
	}
}

func TestPayloadTooLargeIsAClearError(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: etcdboot/v1\nname: big\npki: {keyAlgorithm: rsa, keySize: 4096}\nmembers:\n")
	for i := 1; i <= 9; i++ {
		// Twenty addresses each: every one is in the member list and in the
		// member's own certificates.
		var ips []string
		for k := 0; k < 30; k++ {
			ips = append(ips, fmt.Sprintf("10.%d.%d.%d", k, i, 10+k))
		}
		fmt.Fprintf(&b, "  - {name: etcd%d, ips: [%s], fqdn: etcd%d.a-rather-long-domain-name.example.internal}\n", i, strings.Join(ips, ", "), i)
	}
	dir := t.TempDir()
	specPath := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(specPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(Options{SpecPath: specPath, OutDir: filepath.Join(dir, "out")})
	if err == nil {
		t.Fatal("a 9-member RSA-4096 payload with 30 addresses each fits: the size check never ran")
	}
	// Nodes render concurrently: whichever is first over names itself.
	if !strings.Contains(err.Error(), "16384-byte user-data limit") || !regexp.MustCompile(`node "etcd\d"`).MatchString(err.Error()) {
		t.Errorf("error does not name the limit and node: %v", err)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseCert(t, data)
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func containsIP(ips []net.IP, s string) bool {
	want := net.ParseIP(s)
	for _, ip := range ips {
		if ip.Equal(want) {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func BenchmarkGenerate(b *testing.B) {
	for _, alg := range []string{"ecdsa", "rsa"} {
		for _, n := range []int{3, 5, 7} {
			b.Run(fmt.Sprintf("%s-%d", alg, n), func(b *testing.B) {
				var sb strings.Builder
				fmt.Fprintf(&sb, "apiVersion: etcdboot/v1\nname: bench\npki: {keyAlgorithm: %s}\nmembers:\n", alg)
				for i := 1; i <= n; i++ {
					fmt.Fprintf(&sb, "  - {name: etcd%d, ips: [10.0.0.%d]}\n", i, i)
				}
				dir := b.TempDir()
				specPath := filepath.Join(dir, "cluster.yaml")
				if err := os.WriteFile(specPath, []byte(sb.String()), 0o644); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					// A fresh out/ each time: the cost of a first generate.
					if _, err := Run(Options{SpecPath: specPath, OutDir: filepath.Join(dir, fmt.Sprint("out", i))}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
