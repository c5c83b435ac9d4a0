package generate

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// TestPayloadsCarryTheTLSMinimum: every node.yaml and the launch payload
// carry the cluster's tls.minVersion, TLS1.3 unless the spec allows TLS1.2.
func TestPayloadsCarryTheTLSMinimum(t *testing.T) {
	for _, tt := range []struct{ name, tls, want string }{
		{"default", "", spec.TLS13},
		{"old clients", "tls: {minVersion: TLS1.2}\n", spec.TLS12},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			specPath := filepath.Join(dir, "cluster.yaml")
			data := "apiVersion: etcdboot/v1\nname: tls\nmembers:\n  - {name: etcd1, ips: [10.0.0.1]}\n" + tt.tls
			if err := os.WriteFile(specPath, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			if _, err := Run(Options{SpecPath: specPath, OutDir: out}); err != nil {
				t.Fatal(err)
			}
			p, err := spec.LoadNodePayload(filepath.Join(out, "nodes", "etcd1", "node.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if p.TLS.MinVersion != tt.want {
				t.Errorf("node.yaml tls.minVersion = %q, want %q", p.TLS.MinVersion, tt.want)
			}
		})
	}
	res, err := Run(Options{SpecPath: "../examples/autoscaling/cluster.yaml", OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Launch.Bundle.Payload.TLS.MinVersion; got != spec.TLS13 {
		t.Errorf("launch payload tls.minVersion = %q, want TLS1.3", got)
	}
}

// TestGenerateDuringACARotationTrustsBothRoots: while a CA rotation has
// out/pki/ca.crt hold the old and the new root (phase a), a plain generate
// writes both into every payload's CA file and the Prometheus and kubeadm
// copies, not the signing root alone, so no member it reaches distrusts
// the certificates the next phase brings.
func TestGenerateDuringACARotationTrustsBothRoots(t *testing.T) {
	out := t.TempDir()
	opts := Options{SpecPath: "../examples/three-node-static/cluster.yaml", OutDir: out}
	if _, err := Run(opts); err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(out, "pki", "ca.crt")
	old, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	next, err := pki.NewRootCA("etcd", pki.KeySpec{}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bundle := append(append([]byte(nil), old...), next.CertPEM()...)
	if err := os.WriteFile(caPath, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range res.Nodes {
		found := false
		for _, f := range n.Bundle.Files {
			if f.Path == n.Bundle.Payload.TLS.CAFile {
				found = true
				if !bytes.Equal(f.Contents, bundle) {
					t.Errorf("node %s: CA file holds %d bytes, want both roots (%d)", n.Name, len(f.Contents), len(bundle))
				}
			}
		}
		if !found {
			t.Errorf("node %s: no CA file in its payload", n.Name)
		}
	}
	for _, copyPath := range []string{"monitoring/tls/ca.crt", "kubeadm/pki/etcd/ca.crt"} {
		if got, err := os.ReadFile(filepath.Join(out, copyPath)); err != nil || !bytes.Equal(got, bundle) {
			t.Errorf("%s: %d bytes, %v; want both roots", copyPath, len(got), err)
		}
	}
}
