package generate

import (
	"os"
	"path/filepath"
	"testing"

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
