package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/spec"
)

// TestTLSMinimumItem: E.1 passes on TLS 1.3 alone or TLS 1.2 with ECDHE+AEAD
// suites only, and fails, saying why, on anything etcd would serve more
// weakly or refuse.
func TestTLSMinimumItem(t *testing.T) {
	strong := strings.Join(spec.TLS12CipherSuites, ",")
	for _, tc := range []struct {
		name   string
		edit   func(string) string
		want   Status
		detail string
	}{
		{"as rendered: TLS 1.3", func(s string) string { return s }, Pass, "ETCD_TLS_MIN_VERSION=TLS1.3, ETCD_CIPHER_SUITES unset"},
		{"unset", drop("ETCD_TLS_MIN_VERSION"), Fail, "ETCD_TLS_MIN_VERSION unset, ETCD_CIPHER_SUITES unset (etcd then accepts TLS 1.2 with Go's default suites, CBC ones included)"},
		{"TLS 1.2 with the strong suites", func(s string) string {
			return set("ETCD_CIPHER_SUITES", strong)(set("ETCD_TLS_MIN_VERSION", "TLS1.2")(s))
		}, Pass, "ETCD_TLS_MIN_VERSION=TLS1.2"},
		{"TLS 1.2 with Go's default suites", set("ETCD_TLS_MIN_VERSION", "TLS1.2"), Fail, "(TLS 1.2 with Go's default suites, CBC ones included)"},
		{"TLS 1.2 with a CBC suite", func(s string) string {
			return set("ETCD_CIPHER_SUITES", strong+",TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,TLS_RSA_WITH_AES_128_GCM_SHA256")(set("ETCD_TLS_MIN_VERSION", "TLS1.2")(s))
		}, Fail, "(not ECDHE with AES-GCM or ChaCha20-Poly1305: TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_RSA_WITH_AES_128_GCM_SHA256)"},
		{"TLS 1.3 with suites", set("ETCD_CIPHER_SUITES", strong), Fail, "(etcd refuses to start: cipher suites cannot be chosen for TLS 1.3)"},
		{"TLS 1.1", set("ETCD_TLS_MIN_VERSION", "TLS1.1"), Fail, "ETCD_TLS_MIN_VERSION=TLS1.1, ETCD_CIPHER_SUITES unset (not TLS1.2 or TLS1.3: etcd refuses to start)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.edit(string(renderedConfig().Env()))
			got := AuditEnv([]byte(env))
			if s := statuses(got); s != withStatus(map[string]Status{"E.1": tc.want}) {
				t.Fatalf("statuses %s\n%s", s, env)
			}
			f := got[len(got)-1]
			if f.ID != "E.1" || !strings.Contains(f.Detail, tc.detail) {
				t.Errorf("finding %s, want detail %q", f, tc.detail)
			}
		})
	}
}

func TestTLSMinimumItemOnTheYAMLConfig(t *testing.T) {
	c := renderedConfig()
	c.TLSMinVersion, c.CipherSuites = spec.TLS12, spec.TLS12CipherSuites
	data, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	got := AuditYAML(data)
	if s := statuses(got); s != withStatus(nil) {
		t.Fatalf("statuses %s\n%s", s, data)
	}
	if d := got[len(got)-1].Detail; d != "tls-min-version=TLS1.2, cipher-suites="+strings.Join(spec.TLS12CipherSuites, ",") {
		t.Errorf("E.1 detail %q", d)
	}
	broken := strings.Replace(string(data), "tls-min-version: TLS1.2", "tls-min-version: TLS1.0", 1)
	if s := statuses(AuditYAML([]byte(broken))); s != withStatus(map[string]Status{"E.1": Fail}) {
		t.Errorf("TLS1.0: %s", s)
	}
}

// TestGeneratedClusterAllowingTLS12PassesEveryItem: a spec with
// tls.minVersion TLS1.2 yields payloads whose configuration passes E.1 too.
func TestGeneratedClusterAllowingTLS12PassesEveryItem(t *testing.T) {
	dir := t.TempDir()
	specPath := filepath.Join(dir, "cluster.yaml")
	data := "apiVersion: etcdboot/v1\nname: old-clients\netcd: {configFormat: env}\ntls: {minVersion: TLS1.2}\nmembers:\n  - {name: etcd1, ips: [10.0.0.1]}\n"
	if err := os.WriteFile(specPath, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, err := generate.Run(generate.Options{SpecPath: specPath, OutDir: out}); err != nil {
		t.Fatal(err)
	}
	r, err := CheckSpec(specPath, Options{OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed() || len(r.Members) != 1 || statuses(r.Members[0].Findings) != withStatus(nil) {
		t.Fatalf("report: %+v", r)
	}
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	want := "[PASS] E.1 Ensure that --tls-min-version is TLS1.3, or TLS1.2 with only ECDHE+AEAD --cipher-suites: ETCD_TLS_MIN_VERSION=TLS1.2, ETCD_CIPHER_SUITES=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,"
	if !strings.Contains(b.String(), want) {
		t.Errorf("text report lacks %q:\n%s", want, b.String())
	}
}
