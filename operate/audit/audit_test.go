package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// renderedConfig is a member's configuration as etcdconfig renders it.
func renderedConfig() etcdconfig.Config {
	return etcdconfig.Config{
		Minor: 6, Name: "etcd1", DataDir: "/var/lib/etcd",
		ListenPeerURLs: []string{"https://10.0.0.1:2380"}, ListenClientURLs: []string{"https://10.0.0.1:2379"},
		AdvertiseClientURLs: []string{"https://10.0.0.1:2379"}, InitialAdvertisePeerURLs: []string{"https://10.0.0.1:2380"},
		InitialCluster: "etcd1=https://10.0.0.1:2380", InitialClusterState: "new", InitialClusterToken: "tok",
		CAFile: "/p/ca.crt", CertFile: "/p/server.crt", KeyFile: "/p/server.key", PeerCertFile: "/p/peer.crt", PeerKeyFile: "/p/peer.key",
		TLSMinVersion: spec.TLS13,
	}
}

// statuses returns "2.1:PASS 2.2:FAIL ..." for findings.
func statuses(fs []Finding) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, f.ID+":"+string(f.Status))
	}
	return strings.Join(parts, " ")
}

// withStatus is the settings items, all PASS except those named.
func withStatus(overrides map[string]Status) string {
	var parts []string
	for _, it := range SettingItems {
		st := Pass
		if s, ok := overrides[it.ID]; ok {
			st = s
		}
		parts = append(parts, it.ID+":"+string(st))
	}
	return strings.Join(parts, " ")
}

func TestRenderedEnvPassesEveryItem(t *testing.T) {
	got := AuditEnv(renderedConfig().Env())
	if s := statuses(got); s != withStatus(nil) {
		t.Errorf("statuses %s", s)
	}
	if !strings.Contains(got[1].Detail, "ETCD_CLIENT_CERT_AUTH=true") || !strings.Contains(got[2].Detail, "ETCD_AUTO_TLS unset") {
		t.Errorf("details do not quote the file: %+v", got)
	}
}

func TestEnvFailsTheRightItem(t *testing.T) {
	for _, tc := range []struct {
		name string
		// edit rewrites the rendered file.
		edit func(string) string
		want map[string]Status
		// detail must appear in the failing finding.
		detail string
	}{
		{"client cert auth off", set("ETCD_CLIENT_CERT_AUTH", "false"), map[string]Status{"2.2": Fail}, "ETCD_CLIENT_CERT_AUTH=false"},
		{"auto tls on", set("ETCD_AUTO_TLS", "true"), map[string]Status{"2.3": Fail}, "ETCD_AUTO_TLS=true"},
		{"peer auto tls on, as etcd spells true", set("ETCD_PEER_AUTO_TLS", "1"), map[string]Status{"2.6": Fail}, "ETCD_PEER_AUTO_TLS=1"},
		{"peer client cert auth off", set("ETCD_PEER_CLIENT_CERT_AUTH", "False"), map[string]Status{"2.5": Fail}, "ETCD_PEER_CLIENT_CERT_AUTH=False"},
		{"key file missing", drop("ETCD_KEY_FILE"), map[string]Status{"2.1": Fail}, "ETCD_KEY_FILE unset"},
		{"peer cert file empty", set("ETCD_PEER_CERT_FILE", ""), map[string]Status{"2.4": Fail}, "ETCD_PEER_CERT_FILE="},
		{"no CA to verify clients", drop("ETCD_TRUSTED_CA_FILE"), map[string]Status{"2.2": Fail}, "system's CAs"},
		{"not a boolean", set("ETCD_CLIENT_CERT_AUTH", "yes"), map[string]Status{"2.2": Fail}, "not a boolean"},
		{"quoted values", func(s string) string { return set("ETCD_CLIENT_CERT_AUTH", `"true"`)(s) }, nil, ""},
		{"auto tls off", set("ETCD_AUTO_TLS", "false"), nil, ""},
		{"last assignment wins", func(s string) string { return s + "ETCD_CLIENT_CERT_AUTH=false\n" }, map[string]Status{"2.2": Fail}, "ETCD_CLIENT_CERT_AUTH=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.edit(string(renderedConfig().Env()))
			got := AuditEnv([]byte(env))
			if s := statuses(got); s != withStatus(tc.want) {
				t.Fatalf("statuses %s, want %s\n%s", s, withStatus(tc.want), env)
			}
			for _, f := range got {
				if f.Status == Fail && !strings.Contains(f.Detail, tc.detail) {
					t.Errorf("%s detail %q lacks %q", f.ID, f.Detail, tc.detail)
				}
				if f.Remediation == "" {
					t.Errorf("%s has no remediation", f.ID)
				}
			}
		})
	}
}

// set replaces or appends KEY=value.
func set(key, value string) func(string) string {
	return func(env string) string {
		re := regexp.MustCompile(`(?m)^` + key + `=.*$`)
		if re.MatchString(env) {
			return re.ReplaceAllLiteralString(env, key+"="+value)
		}
		return env + key + "=" + value + "\n"
	}
}

func drop(key string) func(string) string {
	return func(env string) string {
		return regexp.MustCompile(`(?m)^`+key+`=.*\n`).ReplaceAllString(env, "")
	}
}

func TestYAMLConfigFailsTheRightItem(t *testing.T) {
	data, err := renderedConfig().YAML()
	if err != nil {
		t.Fatal(err)
	}
	if s := statuses(AuditYAML(data)); s != withStatus(nil) {
		t.Fatalf("rendered YAML: %s\n%s", s, data)
	}
	broken := strings.Replace(string(data), "client-cert-auth: true", "client-cert-auth: false", 1)
	broken = strings.Replace(broken, "peer-transport-security:\n", "peer-transport-security:\n  auto-tls: true\n", 1)
	got := AuditYAML([]byte(broken))
	if s := statuses(got); s != withStatus(map[string]Status{"2.2": Fail, "2.6": Fail}) {
		t.Fatalf("statuses %s\n%s", s, broken)
	}
	if !strings.Contains(got[1].Detail, "client-transport-security.client-cert-auth=false") || !strings.Contains(got[5].Detail, "peer-transport-security.auto-tls=true") {
		t.Errorf("details: %q, %q", got[1].Detail, got[5].Detail)
	}
	if s := statuses(AuditYAML([]byte("client-transport-security: [1, 2]\n"))); !strings.Contains(s, "2.1:FAIL") {
		t.Errorf("malformed config: %s", s)
	}
}

func TestEnvPointingAtAConfigFileIsLeftToThatFile(t *testing.T) {
	got := AuditEnv([]byte("ETCD_CONFIG_FILE=/etc/etcd/etcd.yaml\n"))
	for _, f := range got {
		if f.Status != Warn || !strings.Contains(f.Detail, "/etc/etcd/etcd.yaml") {
			t.Errorf("%s", f)
		}
	}
}

func TestGeneratedClustersPassEveryItem(t *testing.T) {
	for _, ex := range []string{"three-node-static", "dns", "autoscaling", "etcd-discovery"} {
		t.Run(ex, func(t *testing.T) {
			specPath := filepath.Join("..", "..", "examples", ex, "cluster.yaml")
			out := t.TempDir()
			res, err := generate.Run(generate.Options{SpecPath: specPath, OutDir: out})
			if err != nil {
				t.Fatal(err)
			}
			r, err := Audit(res.Cluster, Options{OutDir: out})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Members) == 0 {
				t.Fatal("no member audited")
			}
			for _, m := range r.Members {
				if s := statuses(m.Findings); s != withStatus(nil) {
					t.Errorf("member %s (%s): %s", m.Member, m.Config, s)
				}
			}
			wantConfig := "etcd.yaml"
			if res.Cluster.Etcd.ConfigFormat == spec.ConfigEnv {
				wantConfig = "etcd.conf"
			}
			if filepath.Base(r.Members[0].Config) != wantConfig {
				t.Errorf("audited %s for format %s", r.Members[0].Config, res.Cluster.Etcd.ConfigFormat)
			}
			if r.CA.Status != Pass || !strings.Contains(r.CA.Detail, "unique CA generated by etcdboot") {
				t.Errorf("2.7: %s", r.CA)
			}
			if r.Failed() {
				t.Error("report failed")
			}
			var b bytes.Buffer
			if err := WriteText(&b, r); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(b.String(), "[PASS] 2.2 Ensure that the --client-cert-auth argument is set to true") || !strings.Contains(b.String(), "0 checks FAIL") {
				t.Errorf("text report:\n%s", b.String())
			}
		})
	}
}

func TestAuditNeedsGeneratedPayloads(t *testing.T) {
	c, _, err := spec.LoadCluster(filepath.Join("..", "..", "examples", "three-node-static", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Audit(c, Options{OutDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "run etcdboot generate") {
		t.Errorf("err = %v", err)
	}
}

func writeCA(t *testing.T, dir, cn string, withKey bool) (string, *pki.Authority) {
	t.Helper()
	ca, err := pki.NewRootCA(cn, pki.KeySpec{}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(path, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if withKey {
		if err := os.WriteFile(filepath.Join(dir, "ca.key"), ca.KeyPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return path, ca
}

func TestUniqueCA(t *testing.T) {
	base := t.TempDir()
	etcdCA, _ := writeCA(t, filepath.Join(base, "etcd"), "etcd", true)
	kubeCA, kube := writeCA(t, filepath.Join(base, "kube"), "kubernetes", false)
	reused := filepath.Join(base, "reused", "ca.crt")
	if err := os.MkdirAll(filepath.Dir(reused), 0o700); err != nil {
		t.Fatal(err)
	}
	// The Kubernetes CA copied in as etcd's CA, with its key.
	if err := os.WriteFile(reused, kube.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	foreign, _ := writeCA(t, filepath.Join(base, "foreign"), "corp-root", false)

	for _, tc := range []struct {
		name, ca, kube string
		want           Status
		detail         string
	}{
		{"generated, no kube CA", etcdCA, "", Pass, "unique CA generated by etcdboot"},
		{"generated, compared", etcdCA, kubeCA, Pass, "is not the Kubernetes CA"},
		{"kube CA reused, compared", reused, kubeCA, Fail, "has the key of the Kubernetes CA"},
		{"kube CA reused, by name", reused, "", Fail, "named like the Kubernetes cluster CA"},
		{"someone else's CA", foreign, "", Warn, "--kube-ca"},
		{"missing CA", filepath.Join(base, "none", "ca.crt"), "", Warn, "read CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := UniqueCA(tc.ca, tc.kube)
			if f.Status != tc.want || !strings.Contains(f.Detail, tc.detail) || f.ID != "2.7" {
				t.Errorf("%s, want %s with %q", f, tc.want, tc.detail)
			}
		})
	}
}

func TestTextReportGivesARemediationForEveryFailure(t *testing.T) {
	r := Report{Cluster: "c", Members: []MemberAudit{{Member: "etcd1", Config: "/etc/etcd/etcd.conf",
		Findings: AuditEnv([]byte(set("ETCD_CLIENT_CERT_AUTH", "false")(string(renderedConfig().Env()))))}},
		CA: Finding{Item: ItemUniqueCA, Status: Pass, Detail: "ok"}}
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	want := "[FAIL] 2.2 Ensure that the --client-cert-auth argument is set to true: ETCD_CLIENT_CERT_AUTH=false, ETCD_TRUSTED_CA_FILE=/p/ca.crt\n       remediation: set ETCD_CLIENT_CERT_AUTH=true"
	if !strings.Contains(b.String(), want) || !strings.Contains(b.String(), "7 checks PASS, 1 checks FAIL, 0 checks WARN") {
		t.Errorf("report:\n%s", b.String())
	}
	if !r.Failed() {
		t.Error("Failed() is false")
	}
}
