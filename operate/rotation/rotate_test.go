package rotation

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

const clusterYAML = `apiVersion: etcdboot/v1
name: rot
etcd:
  version: 3.6.16
  configFormat: env
members:
  - name: etcd1
    ips: [10.1.0.1]
  - name: etcd2
    ips: [10.1.0.2]
  - name: etcd3
    ips: [10.1.0.3]
payload:
  formats: [cloud-init]
`

// generated writes a spec and runs the generator on it.
func generated(t *testing.T) (specPath, out string, res *generate.Result) {
	t.Helper()
	dir := t.TempDir()
	specPath = filepath.Join(dir, "cluster.yaml")
	writeFile(t, specPath, []byte(clusterYAML))
	out = filepath.Join(dir, "out")
	res, err := generate.Run(generate.Options{SpecPath: specPath, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	return specPath, out, res
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func serials(t *testing.T, pkiDir string) map[string]string {
	t.Helper()
	r, err := Check(context.Background(), CheckOptions{Dir: pkiDir})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range r.Certificates {
		if c.Position == 0 {
			out[strings.TrimSuffix(filepath.Base(c.Source), ".crt")] = c.Serial
		}
	}
	return out
}

func TestRotateReissuesEveryLeafUnderTheSameCA(t *testing.T) {
	specPath, out, _ := generated(t)
	pkiDir := filepath.Join(out, "pki")
	before := serials(t, pkiDir)
	caCert, caKey := readFile(t, filepath.Join(pkiDir, "ca.crt")), readFile(t, filepath.Join(pkiDir, "ca.key"))
	oldKey := readFile(t, filepath.Join(pkiDir, "etcd1-server.key"))

	res, err := Rotate(RotateOptions{SpecPath: specPath, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"admin", "etcd1-peer", "etcd1-server", "etcd2-peer", "etcd2-server", "etcd3-peer", "etcd3-server", "healthcheck-client", "kube-apiserver-etcd-client"}
	var got []string
	for _, r := range res.Rotated {
		got = append(got, r.Name)
		if r.OldSerial != before[r.Name] || r.NewSerial == r.OldSerial {
			t.Errorf("%s: serial %s -> %s (before: %s)", r.Name, r.OldSerial, r.NewSerial, before[r.Name])
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rotated %v, want %v", got, want)
	}
	after := serials(t, pkiDir)
	for _, name := range want {
		if after[name] == before[name] {
			t.Errorf("%s kept serial %s", name, after[name])
		}
	}
	if !bytes.Equal(caCert, readFile(t, filepath.Join(pkiDir, "ca.crt"))) || !bytes.Equal(caKey, readFile(t, filepath.Join(pkiDir, "ca.key"))) {
		t.Error("the CA changed")
	}
	if bytes.Equal(oldKey, readFile(t, filepath.Join(pkiDir, "etcd1-server.key"))) {
		t.Error("etcd1-server kept its key")
	}
	// The previous files are kept, not deleted.
	if !bytes.Equal(oldKey, readFile(t, filepath.Join(res.BackupDir, "etcd1-server.key"))) {
		t.Errorf("%s does not hold the previous key", res.BackupDir)
	}

	// Everything still verifies to the CA, and the payloads carry the new
	// certificates and still load.
	r, err := Check(context.Background(), CheckOptions{Dir: pkiDir})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Problems(); len(p) != 0 {
		t.Errorf("after rotation: %+v", p)
	}
	if len(res.Generate.Nodes) != 3 {
		t.Fatalf("%d node payloads", len(res.Generate.Nodes))
	}
	for _, n := range res.Generate.Nodes {
		if _, err := spec.LoadNodePayload(filepath.Join(n.Dir, "node.yaml")); err != nil {
			t.Errorf("node %s: %v", n.Name, err)
		}
		newServer := readFile(t, filepath.Join(pkiDir, n.Name+"-server.crt"))
		found := false
		for _, f := range n.Bundle.Files {
			if f.Path == n.Bundle.Payload.TLS.ServerCertFile {
				found = bytes.Equal(f.Contents, newServer)
			}
		}
		if !found {
			t.Errorf("node %s's payload does not carry its new server certificate", n.Name)
		}
	}
	if !bytes.Equal(readFile(t, filepath.Join(out, "monitoring", "tls", "client.crt")), readFile(t, filepath.Join(pkiDir, "healthcheck-client.crt"))) {
		t.Error("Prometheus' client certificate was not rewritten")
	}
}

func TestRotateKeepsWhatTheGeneratorDoesNotIssue(t *testing.T) {
	specPath, out, _ := generated(t)
	pkiDir := filepath.Join(out, "pki")
	// etcdboot serve --tls keeps its own certificate beside the members'.
	ca := loadAuthority(t, pkiDir)
	server, _ := memberRequests("serve", 300*day)
	serve := issue(t, ca, server)
	writePair(t, pkiDir, "serve", serve)

	res, err := Rotate(RotateOptions{SpecPath: specPath, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Kept) != 1 || res.Kept[0] != "serve" {
		t.Errorf("kept %v, want [serve]", res.Kept)
	}
	if !bytes.Equal(readFile(t, filepath.Join(pkiDir, "serve.crt")), serve.CertPEM) {
		t.Error("serve.crt was changed")
	}
}

func TestFailedRotationRestoresThePreviousCertificates(t *testing.T) {
	specPath, out, _ := generated(t)
	pkiDir := filepath.Join(out, "pki")
	before := serials(t, pkiDir)
	// The generator issues the certificates, then cannot write the payloads.
	nodes := filepath.Join(out, "nodes")
	if err := os.RemoveAll(nodes); err != nil {
		t.Fatal(err)
	}
	writeFile(t, nodes, []byte("not a directory"))

	_, err := Rotate(RotateOptions{SpecPath: specPath, OutDir: out, Now: func() time.Time { return time.Unix(0, 0) }})
	if err == nil || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("err = %v, want a failure that restored the certificates", err)
	}
	after := serials(t, pkiDir)
	for name, serial := range before {
		if after[name] != serial {
			t.Errorf("%s: serial %s after a failed rotation, was %s", name, after[name], serial)
		}
	}
}

func TestRotateNeedsAGeneratedCA(t *testing.T) {
	dir := t.TempDir()
	specPath := filepath.Join(dir, "cluster.yaml")
	writeFile(t, specPath, []byte(clusterYAML))
	if _, err := Rotate(RotateOptions{SpecPath: specPath, OutDir: filepath.Join(dir, "out")}); err == nil || !strings.Contains(err.Error(), "run etcdboot generate first") {
		t.Errorf("err = %v", err)
	}
	if _, err := Rotate(RotateOptions{SpecPath: filepath.Join(dir, "missing.yaml"), OutDir: dir}); err == nil {
		t.Error("rotating without a spec succeeded")
	}
}

func loadAuthority(t *testing.T, pkiDir string) *pki.Authority {
	t.Helper()
	ca, err := pki.LoadAuthority(readFile(t, filepath.Join(pkiDir, "ca.crt")), readFile(t, filepath.Join(pkiDir, "ca.key")))
	if err != nil {
		t.Fatal(err)
	}
	return ca
}
