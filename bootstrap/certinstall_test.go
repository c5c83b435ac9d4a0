package bootstrap

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/operate/rotation"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

const exampleSpec = "../examples/three-node-static/cluster.yaml"

// installFixture is member etcd1 of the example cluster placed under a root
// directory, with the generator output it came from.
type installFixture struct {
	out, root string
	agent     *Agent
}

func newInstallFixture(t *testing.T) *installFixture {
	t.Helper()
	f := &installFixture{out: t.TempDir(), root: t.TempDir()}
	res, err := generate.Run(generate.Options{SpecPath: exampleSpec, OutDir: f.out})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Nodes[0].Bundle.WriteTree(f.root); err != nil {
		t.Fatal(err)
	}
	f.agent, err = NewAgent(Config{PayloadPath: filepath.Join(f.root, spec.DefaultPayloadPath), Root: f.root, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// userData reads a node's user-data of out as the agent receives it.
func userData(t *testing.T, out, node string) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "nodes", node, "user-data"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := ReadCloudInit(data)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// snapshotTree maps every file under root to its contents.
func snapshotTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		out[p] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestInstallCertificatesTakesRotatedCertificatesFromUserData(t *testing.T) {
	f := newInstallFixture(t)
	rot, err := rotation.Rotate(rotation.RotateOptions{SpecPath: exampleSpec, OutDir: f.out})
	if err != nil {
		t.Fatal(err)
	}
	newSerial := map[string]string{}
	for _, r := range rot.Rotated {
		newSerial[r.Name] = r.NewSerial
	}
	got, err := f.agent.InstallCertificates(userData(t, f.out, "etcd1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("installed %+v, want the server and the peer pair", got)
	}
	pkiDir := pki.Dir{Path: filepath.Join(f.out, "pki")}
	for _, c := range got {
		kind := "server"
		if c.Field == "tls.peerCertFile" {
			kind = "peer"
		}
		want := newSerial["etcd1-"+kind]
		if !c.Replaced || c.NewSerial != want || c.OldSerial == "" || c.OldSerial == want {
			t.Errorf("%s: %+v, want replaced with serial %s", c.Field, c, want)
		}
		for _, pair := range [][2]string{
			{c.Path, pkiDir.CertPath("etcd1-" + kind)},
			{filepath.Join(f.root, spec.DefaultTLSDir, kind+".key"), pkiDir.KeyPath("etcd1-" + kind)},
		} {
			onNode, _ := os.ReadFile(pair[0])
			generated, _ := os.ReadFile(pair[1])
			if string(onNode) != string(generated) {
				t.Errorf("%s differs from the rotated %s", pair[0], pair[1])
			}
		}
		st, err := os.Stat(filepath.Join(f.root, spec.DefaultTLSDir, kind+".key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s.key mode after install: %v %v, want 0600 as before", kind, st.Mode(), err)
		}
	}
	if entries, _ := filepath.Glob(filepath.Join(f.root, spec.DefaultTLSDir, ".*tmp-*")); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
	// Delivering the same user-data again changes nothing.
	again, err := f.agent.InstallCertificates(userData(t, f.out, "etcd1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range again {
		if c.Replaced || c.OldSerial != c.NewSerial {
			t.Errorf("second install of the same files: %+v, want nothing replaced", c)
		}
	}
}

func TestInstallCertificatesRefusesWithoutTouchingAFile(t *testing.T) {
	f := newInstallFixture(t)
	other := t.TempDir() // the same spec generated again: another CA
	if _, err := generate.Run(generate.Options{SpecPath: exampleSpec, OutDir: other}); err != nil {
		t.Fatal(err)
	}
	if _, err := rotation.Rotate(rotation.RotateOptions{SpecPath: exampleSpec, OutDir: f.out}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		delivered func() map[string][]byte
		want      string
		is        error
	}{
		{"another node's user-data", func() map[string][]byte { return userData(t, f.out, "etcd2") },
			"the delivered payload is for member etcd2 of cluster etcd-cluster", nil},
		{"another CA", func() map[string][]byte { return userData(t, other, "etcd1") },
			"the delivered CA differs from the installed one", ErrCAChanged},
		{"key of another certificate", func() map[string][]byte {
			files := userData(t, f.out, "etcd1")
			files[filepath.Join(spec.DefaultTLSDir, "server.key")] = files[filepath.Join(spec.DefaultTLSDir, "peer.key")]
			return files
		}, "tls.serverCertFile: the delivered /etc/etcdboot/pki/server.crt does not match its key", nil},
		{"certificate of another node", func() map[string][]byte {
			files := userData(t, f.out, "etcd1")
			etcd2 := userData(t, f.out, "etcd2")
			for _, name := range []string{"server.crt", "server.key"} {
				p := filepath.Join(spec.DefaultTLSDir, name)
				files[p] = etcd2[p]
			}
			return files
		}, "is not valid for this node's address 192.168.2.51", nil},
		{"no node.yaml", func() map[string][]byte {
			files := userData(t, f.out, "etcd1")
			delete(files, spec.DefaultPayloadPath)
			return files
		}, "the delivered files hold no /etc/etcdboot/node.yaml", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshotTree(t, f.root)
			_, err := f.agent.InstallCertificates(tt.delivered())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.is)
			}
			after := snapshotTree(t, f.root)
			if len(after) != len(before) {
				t.Errorf("files under the root: %d before, %d after", len(before), len(after))
			}
			for p, data := range before {
				if after[p] != data {
					t.Errorf("%s changed", p)
				}
			}
		})
	}
}
