package pki

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadCertificatesNamesTheFile(t *testing.T) {
	ca := mustRoot(t, ecdsa256)
	bundle := append(append([]byte{}, ca.CertPEM()...), mustRoot(t, ecdsa256).CertPEM()...)
	certs, err := ReadCertificates(writeTemp(t, "bundle.pem", bundle))
	if err != nil {
		t.Fatalf("ReadCertificates: %v", err)
	}
	if len(certs) != 2 || !certs[0].Equal(ca.Certificate()) {
		t.Fatalf("read %d certificates, the first the CA: %v; want 2", len(certs), len(certs) > 0 && certs[0].Equal(ca.Certificate()))
	}

	missing := filepath.Join(t.TempDir(), "none.pem")
	if _, err := ReadCertificates(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v; want fs.ErrNotExist naming %s", err, missing)
	}
	for name, data := range map[string]string{
		"key.pem":       string(ca.KeyPEM()),
		"truncated.pem": string(ca.CertPEM()[:len(ca.CertPEM())/2]),
		"empty.pem":     "",
	} {
		p := writeTemp(t, name, []byte(data))
		if _, err := ReadCertificates(p); err == nil || !strings.HasPrefix(err.Error(), p+": ") {
			t.Errorf("%s: %v; want an error beginning with the file's path", name, err)
		}
	}
}
