package rotation

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/pki"
)

// payloadCA is the CA file a node's user-data carries.
func payloadCA(t *testing.T, out, node string) []byte {
	t.Helper()
	files, err := bootstrap.ReadCloudInit(readFile(t, filepath.Join(out, "nodes", node, "user-data")))
	if err != nil {
		t.Fatal(err)
	}
	return files["/etc/etcdboot/pki/ca.crt"]
}

func roots(t *testing.T, data []byte) []string {
	t.Helper()
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	var fps []string
	for _, c := range certs {
		fps = append(fps, fingerprint(c))
	}
	return fps
}

// A phase recorded as not completely written (the run stopped half way) is
// written again by the next run, without asking the members, and writing
// it twice changes nothing: the old CA's key kept in the backup is never
// overwritten, certificates already reissued are kept. A leaf rotation
// (certs rotate) in the middle of a CA rotation keeps the phase's CA bundle
// in the payloads and the cross-certificate on the certificates.
func TestCARotationResumesAPartlyWrittenPhase(t *testing.T) {
	specPath, out, _ := generated(t)
	pkiDir := filepath.Join(out, "pki")
	oldCA := readFile(t, filepath.Join(pkiDir, "ca.crt"))
	oldKey := readFile(t, filepath.Join(pkiDir, "ca.key"))
	ctx := context.Background()
	// No endpoint answers: only a partly written phase may be written.
	opts := LiveOptions{RotateOptions: RotateOptions{SpecPath: specPath, OutDir: out}, Endpoints: []string{"127.0.0.1:1"}, Timeout: time.Second}
	if res, err := RotateCA(ctx, opts); err == nil || res.Wrote != CAPhaseNone {
		t.Fatalf("started with no member answering: %+v, %v", res, err)
	}

	interrupted := func(p CAPhase) {
		t.Helper()
		st, err := LoadCARotation(pkiDir)
		if err != nil {
			t.Fatal(err)
		}
		st.Phase, st.Written = p, false
		if err := st.save(pkiDir); err != nil {
			t.Fatal(err)
		}
		res, err := RotateCA(ctx, opts)
		if err != nil || res.Wrote != p || !res.After.Written || len(res.Seen) != 0 {
			t.Fatalf("resume (%s): %+v, %v", p.Letter(), res, err)
		}
	}
	interrupted(CAPhaseTrustBoth)
	st, _ := LoadCARotation(pkiDir)
	newCA := readFile(t, filepath.Join(pkiDir, "ca-new.crt"))
	interrupted(CAPhaseTrustBoth) // twice: the same new CA
	if !bytes.Equal(newCA, readFile(t, filepath.Join(pkiDir, "ca-new.crt"))) {
		t.Fatal("writing phase (a) again made another CA")
	}
	if got := roots(t, payloadCA(t, out, "etcd1")); len(got) != 2 || got[0] != st.OldCA || got[1] != st.NewCA {
		t.Errorf("phase (a): payload CA %v, want old and new", got)
	}

	interrupted(CAPhaseNewLeaves)
	serverAfterB := readFile(t, filepath.Join(pkiDir, "etcd1-server.crt"))
	interrupted(CAPhaseNewLeaves) // twice: nothing reissued, the old key kept
	if !bytes.Equal(serverAfterB, readFile(t, filepath.Join(pkiDir, "etcd1-server.crt"))) {
		t.Error("writing phase (b) again reissued etcd1-server")
	}
	backup := st.BackupDir
	if !bytes.Equal(oldKey, readFile(t, filepath.Join(backup, "ca.key"))) || !bytes.Equal(oldCA, readFile(t, filepath.Join(backup, "ca.crt"))[:len(oldCA)]) {
		t.Error("the backup does not hold the old CA and its key")
	}
	if got := roots(t, readFile(t, filepath.Join(pkiDir, "ca.crt"))); len(got) != 3 || got[0] != st.NewCA || got[2] != st.OldCA {
		t.Errorf("phase (b): out/pki/ca.crt %v, want new, cross, old", got)
	}
	if got := roots(t, serverAfterB); len(got) != 2 {
		t.Errorf("phase (b): etcd1-server.crt has %d certificates, want the leaf and the cross-certificate", len(got))
	}

	// A leaf rotation now keeps the bundle and the cross-certificate.
	if _, err := Rotate(RotateOptions{SpecPath: specPath, OutDir: out}); err != nil {
		t.Fatal(err)
	}
	if got := roots(t, payloadCA(t, out, "etcd2")); len(got) != 2 {
		t.Errorf("after certs rotate in phase (b): payload CA %v, want both CAs", got)
	}
	if got := roots(t, readFile(t, filepath.Join(pkiDir, "etcd2-peer.crt"))); len(got) != 2 {
		t.Errorf("after certs rotate in phase (b): etcd2-peer.crt has %d certificates, want 2", len(got))
	}

	interrupted(CAPhaseOldDropped)
	if got := roots(t, payloadCA(t, out, "etcd3")); len(got) != 1 || got[0] != st.NewCA {
		t.Errorf("phase (c): payload CA %v, want the new CA alone", got)
	}
	r, err := Check(ctx, CheckOptions{Dir: pkiDir})
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Problems(); len(p) != 0 {
		t.Errorf("after phase (c), certs check finds %+v", p)
	}
	if r.CARotation == nil || r.CARotation.Phase != CAPhaseOldDropped {
		t.Errorf("certs check reports rotation %+v", r.CARotation)
	}
}
