package generate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
)

// TestGeneratedCertificatesRunRealEtcd starts the real etcd with a member's
// generated server and peer certificates (mTLS on both), writes and reads
// with the admin certificate through etcdctl, then turns etcd auth on and
// shows the healthcheck-client certificate reaches health and nothing else.
func TestGeneratedCertificatesRunRealEtcd(t *testing.T) {
	etcdctl := etcdtest.Binary(t, "etcdctl")
	out := t.TempDir()
	if _, err := Run(Options{SpecPath: "../examples/three-node-static/cluster.yaml", OutDir: out}); err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(out, "pki")
	client := startEtcd(t, out)
	ctl := func(cert string, args ...string) (string, error) {
		argv := append([]string{"--endpoints", client, "--cacert", filepath.Join(pki, "ca.crt"),
			"--cert", filepath.Join(pki, cert+".crt"), "--key", filepath.Join(pki, cert+".key"), "--dial-timeout", "2s"}, args...)
		b, err := exec.Command(etcdctl, argv...).CombinedOutput()
		return strings.TrimSpace(string(b)), err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out, err := ctl("admin", "endpoint", "health"); err == nil && strings.Contains(out, "is healthy") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("etcd never became healthy: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, err := ctl("admin", "put", "/k", "v"); err != nil {
		t.Fatalf("put with the admin cert: %v: %s", err, out)
	}
	if out, err := ctl("admin", "get", "/k", "--print-value-only"); err != nil || out != "v" {
		t.Fatalf("get with the admin cert: %v: %q", err, out)
	}
	// With auth on, etcd takes the certificate's CN as the user.
	for _, args := range [][]string{
		{"user", "add", "root", "--new-user-password", "unused-root-password"},
		{"user", "grant-role", "root", "root"},
		{"user", "add", "admin", "--no-password"},
		{"user", "grant-role", "admin", "root"},
		{"user", "add", "healthcheck-client", "--no-password"},
		{"auth", "enable"},
	} {
		if out, err := ctl("admin", args...); err != nil {
			t.Fatalf("etcdctl %v: %v: %s", args, err, out)
		}
	}
	if out, err := ctl("admin", "put", "/k", "v2"); err != nil {
		t.Fatalf("admin put after auth enable: %v: %s", err, out)
	}
	if out, err := ctl("healthcheck-client", "get", "/k"); err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("healthcheck-client read a key: %v: %s", err, out)
	}
	if out, err := ctl("healthcheck-client", "endpoint", "health"); err != nil || !strings.Contains(out, "is healthy") {
		t.Fatalf("healthcheck-client cannot reach health: %v: %s", err, out)
	}
	// A certificate from another CA is refused at the TLS handshake.
	other := t.TempDir()
	if _, err := Run(Options{SpecPath: "../examples/three-node-static/cluster.yaml", OutDir: other}); err != nil {
		t.Fatal(err)
	}
	argv := []string{"--endpoints", client, "--cacert", filepath.Join(pki, "ca.crt"),
		"--cert", filepath.Join(other, "pki", "admin.crt"), "--key", filepath.Join(other, "pki", "admin.key"),
		"--dial-timeout", "2s", "--command-timeout", "3s", "get", "/k"}
	if b, err := exec.Command(etcdctl, argv...).CombinedOutput(); err == nil {
		t.Fatalf("a foreign CA's admin cert was accepted: %s", b)
	}
}

// startEtcd runs the real etcd on loopback with member etcd1's generated
// certificates (mTLS on both ports) and returns its client URL.
func startEtcd(t *testing.T, out string) string {
	t.Helper()
	return etcdtest.Start(t, etcdtest.Member{PKIDir: filepath.Join(out, "pki"), DataDir: filepath.Join(out, "data")}).Endpoint
}

// TestGenerateCreatesTheDiscoveryToken runs the generator against a real
// discovery etcd: the token and size land in /_etcd/registry, and a rerun
// with the same size is fine.
func TestGenerateCreatesTheDiscoveryToken(t *testing.T) {
	out := t.TempDir()
	if _, err := Run(Options{SpecPath: "../examples/three-node-static/cluster.yaml", OutDir: out}); err != nil {
		t.Fatal(err)
	}
	client := startEtcd(t, out)
	spec := strings.Replace(`apiVersion: etcdboot/v1
name: disco
discovery:
  mode: etcd
  etcd: {endpoints: [CLIENT], token: disco-e2e}
members:
  - {name: etcd1, ips: [10.0.0.1]}
  - {name: etcd2, ips: [10.0.0.2]}
  - {name: etcd3, ips: [10.0.0.3]}
`, "CLIENT", client, 1)
	specPath := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(specPath, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(out, "pki")
	admin := &tlsfiles.Files{CAFile: filepath.Join(pki, "ca.crt"), CertFile: filepath.Join(pki, "admin.crt"), KeyFile: filepath.Join(pki, "admin.key")}
	for run := 1; run <= 2; run++ {
		if _, err := Run(Options{SpecPath: specPath, OutDir: out, CreateDiscoveryToken: admin}); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := discovery.GetTokenStatus(ctx, discovery.TokenCluster{Endpoints: []string{client}, TLS: *admin}, "disco-e2e")
	if err != nil || st.Size != 3 || len(st.Members) != 0 {
		t.Fatalf("token status %+v, %v", st, err)
	}
}
