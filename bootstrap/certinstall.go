package bootstrap

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/etcdboot/etcdboot/internal/render"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// ErrCAChanged means delivered certificates come with another CA than the
// node's: members would stop trusting each other, so nothing is installed.
var ErrCAChanged = errors.New("the delivered CA differs from the installed one")

// InstalledCert is one certificate and key pair InstallCertificates looked at.
type InstalledCert struct {
	// Field names the pair in the payload (tls.serverCertFile).
	Field string `json:"field"`
	// Path is the certificate file on this node.
	Path      string    `json:"path"`
	OldSerial string    `json:"oldSerial"`
	NewSerial string    `json:"newSerial"`
	NotAfter  time.Time `json:"notAfter"`
	// Replaced is false when the delivered files were already installed.
	Replaced bool `json:"replaced"`
}

// InstallCertificates replaces this node's server and peer certificates and
// keys, while etcd runs, with the ones in delivered: the files of the node's
// new payload by path on the node, as ignition.ReadCloudInit returns them
// from the user-data etcdboot certs rotate rewrote.
//
// Everything is checked before any file changes: the delivered node.yaml is
// this node's (cluster, token, name), the delivered CA bundle is the
// installed one or shares a CA with it (a phase of etcdboot certs rotate
// --ca), and each certificate matches its key, verifies to the delivered and
// to the installed CA and is valid for every address of this node. A changed
// CA file is replaced first; each pair is then swapped in with two renames
// back to back, key first, each file keeping its owner and mode. etcd reads its certificate and key at every new TLS
// handshake, so new connections get the new certificates without a restart;
// established ones keep theirs. A handshake landing between the two renames
// sees a mismatched pair and fails once; the client's retry succeeds.
func (a *Agent) InstallCertificates(delivered map[string][]byte) ([]InstalledCert, error) {
	p, err := spec.LoadNodePayload(a.cfg.PayloadPath)
	if err != nil {
		return nil, err
	}
	if p.Node == nil {
		return nil, errors.New("install certificates: this node has an autoscaling launch payload: it mints its own certificates and watch renews them; roll the launch template to change its intermediate")
	}
	// The installed certificates are not checked first: they may have
	// expired, which is why new ones are being installed.
	if err := checkDeliveredPayload(p, delivered[spec.DefaultPayloadPath]); err != nil {
		return nil, fmt.Errorf("install certificates: %w", err)
	}
	caPath := a.path(p.TLS.CAFile)
	ca, err := a.deliveredCA(caPath, delivered[p.TLS.CAFile])
	if err != nil {
		return nil, fmt.Errorf("install certificates: %w", err)
	}

	type pending struct {
		c               memberCert
		certPEM, keyPEM []byte
		res             InstalledCert
	}
	var todo []pending
	for _, c := range memberCerts(p) {
		certPEM, keyPEM := delivered[c.cert], delivered[c.key]
		if certPEM == nil || keyPEM == nil {
			return nil, fmt.Errorf("install certificates: %s: the delivered payload has no %s or %s", c.field, c.cert, c.key)
		}
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			return nil, fmt.Errorf("install certificates: %s: the delivered %s does not match its key %s: %w", c.field, c.cert, c.key, err)
		}
		cert, err := a.verifyMemberCert(p, c, "the delivered "+c.cert, certPEM, ca.pool)
		if err != nil {
			return nil, fmt.Errorf("install certificates: %w", err)
		}
		// etcd and its peers trust what they loaded when they started,
		// which is at most the installed CA file.
		if _, err := a.verifyMemberCert(p, c, "the delivered "+c.cert, certPEM, ca.installedPool); err != nil {
			return nil, fmt.Errorf("install certificates: against the installed CA file, which running etcd loaded: %w; install the phases of etcdboot certs rotate --ca in order", err)
		}
		path := a.path(c.cert)
		res := InstalledCert{Field: c.field, Path: path, NewSerial: serialHex(cert), NotAfter: cert.NotAfter.UTC()}
		oldPEM, err := os.ReadFile(path)
		if err == nil {
			if old, _, err := parseChain(oldPEM); err == nil {
				res.OldSerial = serialHex(old)
			}
		}
		oldKey, _ := os.ReadFile(a.path(c.key))
		res.Replaced = !bytes.Equal(oldPEM, certPEM) || !bytes.Equal(oldKey, keyPEM)
		todo = append(todo, pending{c: c, certPEM: certPEM, keyPEM: keyPEM, res: res})
	}

	var out []InstalledCert
	// The CA file first: in a CA rotation it adds the new CA before
	// certificates of that CA arrive.
	if ca.res.Replaced {
		if err := replaceFile(caPath, ca.newPEM, 0o644); err != nil {
			return out, fmt.Errorf("install certificates: tls.caFile: %w", err)
		}
		a.log.Info("CA bundle installed", "file", caPath, "serials", ca.res.NewSerial)
		out = append(out, ca.res)
	}
	for _, t := range todo {
		if t.res.Replaced {
			if err := replacePair(a.path(t.c.key), t.keyPEM, a.path(t.c.cert), t.certPEM); err != nil {
				return out, fmt.Errorf("install certificates: %s: %w", t.c.field, err)
			}
			a.log.Info("certificate installed", "file", t.res.Path, "serial", t.res.NewSerial, "notAfter", t.res.NotAfter)
		}
		out = append(out, t.res)
	}
	// What is on disk now must pass the boot-time check.
	if err := a.checkCertificates(node{payload: p}); err != nil {
		return out, fmt.Errorf("install certificates: after installing: %w", err)
	}
	return out, nil
}

// caInstall is the CA file InstallCertificates installs.
type caInstall struct {
	newPEM []byte
	// pool is the delivered bundle, installedPool the installed one.
	pool, installedPool *x509.CertPool
	res                 InstalledCert
}

// deliveredCA checks the delivered CA bundle against the installed one. The
// same set of certificates is no change. Otherwise the two must share a
// certificate: a CA rotation (etcdboot certs rotate --ca) adds the new CA
// to the old one in phase (a) and drops the old one in phase (c), so each
// step keeps a CA in common; a bundle with nothing in common is another
// cluster's, or skips phases, and members would stop trusting each other.
func (a *Agent) deliveredCA(caPath string, deliveredPEM []byte) (caInstall, error) {
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		return caInstall{}, fmt.Errorf("tls.caFile: %w", err)
	}
	installed, err := pki.ParseCertificates(caPEM)
	if err != nil {
		return caInstall{}, fmt.Errorf("tls.caFile: %s: %w", caPath, err)
	}
	ca := caInstall{newPEM: caPEM, installedPool: x509.NewCertPool()}
	for _, c := range installed {
		ca.installedPool.AddCert(c)
	}
	bundle := installed
	if deliveredPEM != nil {
		d, err := pki.ParseCertificates(deliveredPEM)
		if err != nil {
			return caInstall{}, fmt.Errorf("the delivered tls.caFile: %w", err)
		}
		if !pki.SameCertificates(installed, d) {
			if !pki.ShareCertificate(installed, d) {
				return caInstall{}, fmt.Errorf("%w (%s): the delivered CA bundle (%s) shares no certificate with the installed one (%s); a new CA is rolled out with etcdboot certs rotate --ca, phase by phase, each installed on every member before the next",
					ErrCAChanged, caPath, serialList(d), serialList(installed))
			}
			ca.newPEM, ca.res.Replaced, bundle = deliveredPEM, true, d
		}
	}
	ca.pool = x509.NewCertPool()
	for _, c := range bundle {
		ca.pool.AddCert(c)
	}
	ca.res.Field, ca.res.Path = "tls.caFile", caPath
	ca.res.OldSerial, ca.res.NewSerial = serialList(installed), serialList(bundle)
	ca.res.NotAfter = bundle[0].NotAfter.UTC()
	for _, c := range bundle[1:] {
		if c.NotAfter.Before(ca.res.NotAfter) {
			ca.res.NotAfter = c.NotAfter.UTC()
		}
	}
	return ca, nil
}

func serialList(certs []*x509.Certificate) string {
	s := make([]string, len(certs))
	for i, c := range certs {
		s[i] = serialHex(c)
	}
	return strings.Join(s, ",")
}

// replaceFile replaces path with data through a synced temporary file with
// path's owner and mode.
func replaceFile(path string, data []byte, mode fs.FileMode) error {
	tmp, err := tempLike(path, data, mode)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// InstallUserData installs the certificates of a node's new cloud-init
// user-data file (out/nodes/NAME/user-data after etcdboot certs rotate); see
// InstallCertificates.
func (a *Agent) InstallUserData(path string) ([]InstalledCert, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("install certificates: %w", err)
	}
	files, err := ReadCloudInit(data)
	if err != nil {
		return nil, fmt.Errorf("install certificates: %s: %w", path, err)
	}
	return a.InstallCertificates(files)
}

// InstalledTable is what InstallCertificates did, as etcdctl draws tables.
func InstalledTable(certs []InstalledCert) render.Table {
	t := render.Table{Header: []string{"FILE", "OLD SERIAL", "NEW SERIAL", "NOT AFTER", "ACTION"}}
	for _, c := range certs {
		action := "unchanged"
		if c.Replaced {
			action = "installed"
		}
		t.Rows = append(t.Rows, []string{c.Path, c.OldSerial, c.NewSerial, c.NotAfter.Format(time.RFC3339), action})
	}
	return t
}

// checkDeliveredPayload refuses another node's or cluster's payload.
func checkDeliveredPayload(p *spec.NodePayload, data []byte) error {
	if data == nil {
		return fmt.Errorf("the delivered files hold no %s; give the node's whole user-data", spec.DefaultPayloadPath)
	}
	d, err := spec.ParseNodePayload("delivered "+spec.DefaultPayloadPath, data)
	if err != nil {
		return err
	}
	if d.Node == nil || d.Node.Name != p.Node.Name || d.Cluster != p.Cluster || d.Token != p.Token {
		name := "(launch payload)"
		if d.Node != nil {
			name = d.Node.Name
		}
		return fmt.Errorf("the delivered payload is for member %s of cluster %s (token %s), this node is %s of %s (token %s); give it its own out/nodes/%s/user-data",
			name, d.Cluster, d.Token, p.Node.Name, p.Cluster, p.Token, p.Node.Name)
	}
	return nil
}

// replacePair writes both files to temporary files beside them (synced, with
// the owner and mode of the files they replace), then renames the key and
// the certificate into place back to back, so a reader of the pair sees a
// mismatch only for the time between two renames.
func replacePair(keyPath string, keyPEM []byte, certPath string, certPEM []byte) error {
	keyTmp, err := tempLike(keyPath, keyPEM, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(keyTmp)
	certTmp, err := tempLike(certPath, certPEM, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(certTmp)
	if err := os.Rename(keyTmp, keyPath); err != nil {
		return fmt.Errorf("replace %s: %w", keyPath, err)
	}
	if err := os.Rename(certTmp, certPath); err != nil {
		return fmt.Errorf("replace %s (its key %s is already replaced; run certs install again): %w", certPath, keyPath, err)
	}
	for _, dir := range []string{filepath.Dir(keyPath), filepath.Dir(certPath)} {
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}

// tempLike writes data to a synced temporary file beside path, with the owner
// and mode of path (mode when path does not exist), and returns its name.
func tempLike(path string, data []byte, mode fs.FileMode) (string, error) {
	uid, gid := -1, -1
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if uid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			return fail(err)
		}
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return f.Name(), nil
}

// serialHex is a certificate's serial number as `openssl x509 -serial` and
// etcdboot certs print it.
func serialHex(c *x509.Certificate) string {
	return strings.ToUpper(c.SerialNumber.Text(16))
}
