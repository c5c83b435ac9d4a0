package bootstrap

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/operate/rotation"
	"github.com/etcdboot/etcdboot/spec"
)

// writeCAPhase writes phase p of a CA rotation to out as a run resuming it
// would, which needs no member to answer.
func writeCAPhase(t *testing.T, out string, p rotation.CAPhase) {
	t.Helper()
	pkiDir := filepath.Join(out, "pki")
	st, err := rotation.LoadCARotation(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	st.Phase, st.Written = p, false
	data := `{"phase":"` + string(p) + `","written":false,"oldCA":"` + st.OldCA + `","newCA":"` + st.NewCA + `","backupDir":"` + st.BackupDir + `"}`
	if err := os.WriteFile(filepath.Join(pkiDir, rotation.CARotationFile), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := rotation.RotateCA(context.Background(), rotation.LiveOptions{RotateOptions: rotation.RotateOptions{SpecPath: exampleSpec, OutDir: out}, Endpoints: []string{"127.0.0.1:1"}, Timeout: time.Second})
	if err != nil || res.Wrote != p {
		t.Fatalf("write phase %s: %+v, %v", p, res, err)
	}
}

// The phases of a CA rotation install in order: (a) replaces only the CA
// file, with the bundle of both CAs; (b) the certificates, of the new CA;
// (c) the CA file again, with the new CA alone. A node that skipped (a) and
// (b) refuses (c): its CA file shares no CA with the delivered one.
func TestInstallCertificatesTakesTheCARotationPhasesInOrder(t *testing.T) {
	f := newInstallFixture(t)
	// A copy of the node as it was before the rotation, which gets no phase
	// until (c).
	skippedRoot := filepath.Join(t.TempDir(), "root")
	if err := os.CopyFS(skippedRoot, os.DirFS(f.root)); err != nil {
		t.Fatal(err)
	}
	skipped, err := NewAgent(Config{PayloadPath: filepath.Join(skippedRoot, spec.DefaultPayloadPath), Root: skippedRoot, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	caPath := filepath.Join(f.root, spec.DefaultTLSDir, "ca.crt")

	replaced := func(got []InstalledCert) string {
		var fields []string
		for _, c := range got {
			if c.Replaced {
				fields = append(fields, c.Field)
			}
		}
		return strings.Join(fields, " ")
	}
	for _, tc := range []struct {
		phase    rotation.CAPhase
		replaced string
		cas      int
	}{
		{rotation.CAPhaseTrustBoth, "tls.caFile", 2},
		{rotation.CAPhaseNewLeaves, "tls.serverCertFile tls.peerCertFile", 2},
		{rotation.CAPhaseOldDropped, "tls.caFile", 1},
	} {
		writeCAPhase(t, f.out, tc.phase)
		got, err := f.agent.InstallCertificates(userData(t, f.out, "etcd1"))
		if err != nil {
			t.Fatalf("phase %s: %v", tc.phase, err)
		}
		if r := replaced(got); r != tc.replaced {
			t.Errorf("phase %s replaced %q, want %q", tc.phase, r, tc.replaced)
		}
		if n := strings.Count(string(readTestFile(t, caPath)), "BEGIN CERTIFICATE"); n != tc.cas {
			t.Errorf("phase %s: the CA file holds %d certificates, want %d", tc.phase, n, tc.cas)
		}
	}

	before := snapshotTree(t, skippedRoot)
	_, err = skipped.InstallCertificates(userData(t, f.out, "etcd1"))
	if !errors.Is(err, ErrCAChanged) || !strings.Contains(err.Error(), "certs rotate --ca, phase by phase") {
		t.Errorf("phase (c) on a node that had none: %v, want ErrCAChanged saying to go phase by phase", err)
	}
	after := snapshotTree(t, skippedRoot)
	for p, data := range before {
		if after[p] != data {
			t.Errorf("%s changed although the install was refused", p)
		}
	}
}

func readTestFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
