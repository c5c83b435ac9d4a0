package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ErrCorruptFile is wrapped by errors about a certificate or key file in a
// Dir that cannot be parsed.
var ErrCorruptFile = errors.New("corrupt certificate or key file")

// File modes: private keys are readable by their owner only.
const (
	certFileMode fs.FileMode = 0o644
	keyFileMode  fs.FileMode = 0o600
	dirMode      fs.FileMode = 0o700
)

// caName is the base name of the root CA's files, as kubeadm names them too.
const caName = "ca"

// Dir is an output directory of certificates and keys, e.g. out/pki, kept
// idempotent: rerunning the generator rewrites nothing that is still right.
// Each certificate is <name>.crt (the certificate followed by the issuer's
// intermediates) and <name>.key; the root CA is ca.crt and ca.key.
type Dir struct {
	Path string
	// Keys, when set, supplies the new keys (see KeyPool); nil makes each
	// when it is needed.
	Keys *KeyPool
}

// CertPath returns the path of <name>.crt in d.
func (d Dir) CertPath(name string) string { return filepath.Join(d.Path, name+".crt") }

// KeyPath returns the path of <name>.key in d.
func (d Dir) KeyPath(name string) string { return filepath.Join(d.Path, name+".key") }

// EnsureCA loads the root CA from ca.crt and ca.key, or creates it when
// neither exists or rotate is set. An existing CA is kept even when cn or key
// differ from it (a warning says so): replacing a CA invalidates every
// certificate, so only rotate does it.
func (d Dir) EnsureCA(cn string, key KeySpec, expiry time.Duration, rotate bool) (*Authority, error) {
	if !rotate {
		st, err := d.read(caName)
		if err != nil {
			return nil, err
		}
		switch {
		case st.certs != nil && st.key != nil:
			a, err := LoadAuthority(st.certPEM, st.keyPEM)
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w; restore the matching pair, or pass --rotate to make a new CA (every certificate is then reissued)", st.certPath, st.keyPath, err)
			}
			if time.Now().After(a.cert.NotAfter) {
				return nil, fmt.Errorf("%s: the CA expired at %s; pass --rotate to make a new CA (every certificate is then reissued)", st.certPath, a.cert.NotAfter.UTC().Format(time.RFC3339))
			}
			if have, _ := keySpecOf(a.cert.PublicKey); have != key.orDefault() || a.cert.Subject.CommonName != cn {
				slog.Warn("keeping the existing CA, which differs from the requested one; pass --rotate to replace it",
					"file", st.certPath, "have_cn", a.cert.Subject.CommonName, "want_cn", cn, "have_key", have.String(), "want_key", key.orDefault().String())
			}
			return a, nil
		case st.certs != nil || st.key != nil:
			present, missing := st.certPath, st.keyPath
			if st.certs == nil {
				present, missing = st.keyPath, st.certPath
			}
			return nil, fmt.Errorf("%s exists but %s is missing; restore it, or pass --rotate to make a new CA (every certificate is then reissued)", present, missing)
		}
	}
	a, err := newRootCA(cn, key, expiry, d.Keys)
	if err != nil {
		return nil, err
	}
	if err := d.write(caName, a.certPEM, a.keyPEM, true); err != nil {
		return nil, err
	}
	return a, nil
}

// EnsureCert makes <name>.crt and <name>.key hold a certificate for req signed
// by a. It keeps both when the certificate is signed by a, carries exactly
// req's subject, SANs and usages, and has more than a third of its life left;
// it reissues the certificate with the same key when any of that changed; it
// makes a new key and certificate when either file is missing, the requested
// key type differs from the key's, or rotate is set.
func (d Dir) EnsureCert(a *Authority, name string, req Request, rotate bool) (KeyPair, error) {
	if err := checkFileName(name); err != nil {
		return KeyPair{}, err
	}
	norm, err := a.check(req)
	if err != nil {
		return KeyPair{}, fmt.Errorf("%s: %w", d.CertPath(name), err)
	}
	if !rotate {
		st, err := d.read(name)
		if err != nil {
			return KeyPair{}, err
		}
		if st.key != nil && st.certs != nil && keyFits(st.key, norm.Key) {
			if keyMatches(st.key, st.certs[0].PublicKey) && a.issued(st, norm) {
				return KeyPair{CertPEM: st.certPEM, KeyPEM: st.keyPEM}, nil
			}
			kp, err := a.IssueWithKey(req, st.keyPEM)
			if err != nil {
				return KeyPair{}, err
			}
			if err := d.write(name, kp.CertPEM, kp.KeyPEM, false); err != nil {
				return KeyPair{}, err
			}
			slog.Debug("reissued certificate with its existing key", "file", st.certPath)
			return kp, nil
		}
	}
	var kp KeyPair
	if _, keyPEM, ok, err := d.Keys.take(norm.Key); ok {
		if err != nil {
			return KeyPair{}, fmt.Errorf("%s: %w", d.CertPath(name), err)
		}
		kp, err = a.IssueWithKey(req, keyPEM)
		if err != nil {
			return KeyPair{}, err
		}
	} else if kp, err = a.Issue(req); err != nil {
		return KeyPair{}, err
	}
	if err := d.write(name, kp.CertPEM, kp.KeyPEM, true); err != nil {
		return KeyPair{}, err
	}
	return kp, nil
}

// EnsureIntermediate is EnsureCert for a member-issuing intermediate CA signed
// by root: kept while its subject, key type and name constraints are those of
// req and more than a third of its life is left, re-signed with the same key
// otherwise, new when missing or rotate is set.
func (d Dir) EnsureIntermediate(root *Authority, name string, req IntermediateRequest, rotate bool) (*Authority, error) {
	if err := checkFileName(name); err != nil {
		return nil, err
	}
	norm, err := root.checkIntermediate(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.CertPath(name), err)
	}
	if !rotate {
		st, err := d.read(name)
		if err != nil {
			return nil, err
		}
		if st.key != nil && st.certs != nil && keyFits(st.key, norm.Key) {
			if keyMatches(st.key, st.certs[0].PublicKey) && root.issuedIntermediate(st, norm) {
				inter, err := LoadAuthority(st.certPEM, st.keyPEM)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", st.certPath, err)
				}
				return inter, nil
			}
			inter, err := root.newIntermediateWithKey(req, st.key, st.keyPEM)
			if err != nil {
				return nil, err
			}
			if err := d.write(name, append(inter.CertPEM(), root.chainPEM...), inter.keyPEM, false); err != nil {
				return nil, err
			}
			return inter, nil
		}
	}
	var inter *Authority
	if key, keyPEM, ok, err := d.Keys.take(norm.Key); ok {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.CertPath(name), err)
		}
		inter, err = root.newIntermediateWithKey(req, key, keyPEM)
		if err != nil {
			return nil, err
		}
	} else if inter, err = root.NewIntermediate(req); err != nil {
		return nil, err
	}
	if err := d.write(name, append(inter.CertPEM(), root.chainPEM...), inter.keyPEM, true); err != nil {
		return nil, err
	}
	return inter, nil
}

// issued reports whether the stored certificate is what a would issue for
// req now, and is not yet due for renewal.
func (a *Authority) issued(st stored, req Request) bool {
	leaf := st.certs[0]
	return a.signedHere(st) && !leaf.IsCA &&
		leaf.Subject.CommonName == req.CommonName &&
		sameStrings(leaf.Subject.Organization, req.Organization) &&
		sameStrings(leaf.DNSNames, req.DNSNames) &&
		sameIPs(leaf.IPAddresses, req.IPs) &&
		slices.Equal(sortedEKU(leaf.ExtKeyUsage), sortedEKU(req.Kind.ExtKeyUsages())) &&
		len(leaf.UnknownExtKeyUsage) == 0 &&
		fresh(leaf)
}

// issuedIntermediate is issued for an intermediate CA.
func (a *Authority) issuedIntermediate(st stored, req IntermediateRequest) bool {
	c := st.certs[0]
	ranges := func(ns []*net.IPNet) []string {
		s := make([]string, len(ns))
		for i, n := range ns {
			s[i] = n.String()
		}
		return s
	}
	return a.signedHere(st) && c.IsCA && c.MaxPathLen == 0 && c.MaxPathLenZero &&
		c.Subject.CommonName == req.CommonName &&
		c.PermittedDNSDomainsCritical &&
		sameStrings(c.PermittedDNSDomains, req.PermittedDNSDomains) &&
		sameStrings(ranges(c.PermittedIPRanges), ranges(req.PermittedIPRanges)) &&
		len(c.ExcludedDNSDomains) == 0 && len(c.ExcludedIPRanges) == 0 &&
		fresh(c)
}

// signedHere reports whether the stored certificate was signed by a and the
// bundle carries a's current chain.
func (a *Authority) signedHere(st stored) bool {
	leaf := st.certs[0]
	var chain []byte
	for _, c := range st.certs[1:] {
		chain = append(chain, encodeCertPEM(c.Raw)...)
	}
	return bytes.Equal(leaf.RawIssuer, a.cert.RawSubject) &&
		leaf.CheckSignatureFrom(a.cert) == nil &&
		bytes.Equal(chain, a.chainPEM)
}

// fresh reports whether more than a third of c's life is left.
func fresh(c *x509.Certificate) bool {
	life := c.NotAfter.Sub(c.NotBefore)
	return time.Now().Before(c.NotAfter.Add(-life / 3))
}

// keyFits reports whether key is of the requested type and size.
func keyFits(key crypto.Signer, want KeySpec) bool {
	have, err := keySpecOf(key.Public())
	return err == nil && have == want
}

// stored is what Dir holds for one name; certs and key are nil when the file
// does not exist.
type stored struct {
	certPath, keyPath string
	certPEM, keyPEM   []byte
	certs             []*x509.Certificate
	key               crypto.Signer
}

// read loads <name>.crt and <name>.key; a missing file is not an error, a
// corrupt one is, naming the file and what to do.
func (d Dir) read(name string) (stored, error) {
	st := stored{certPath: d.CertPath(name), keyPath: d.KeyPath(name)}
	var err error
	if st.certPEM, err = readIfExists(st.certPath); err != nil {
		return st, err
	}
	if st.keyPEM, err = readIfExists(st.keyPath); err != nil {
		return st, err
	}
	if st.certPEM != nil {
		if st.certs, err = ParseCertificates(st.certPEM); err != nil {
			return st, corruptFile(st.certPath, err)
		}
	}
	if st.keyPEM != nil {
		if st.key, err = parseKeyPEM(st.keyPEM); err != nil {
			return st, corruptFile(st.keyPath, err)
		}
	}
	return st, nil
}

func corruptFile(path string, err error) error {
	return fmt.Errorf("%s: %w: %v; delete it and rerun, or pass --rotate", path, ErrCorruptFile, err)
}

func readIfExists(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// write stores a certificate bundle and, when withKey, its key. The key goes
// first: interrupted between the two, the next run finds a key whose
// certificate does not match and reissues for it.
func (d Dir) write(name string, certPEM, keyPEM []byte, withKey bool) error {
	if err := os.MkdirAll(d.Path, dirMode); err != nil {
		return fmt.Errorf("create %s: %w", d.Path, err)
	}
	if withKey {
		if err := writeFileAtomic(d.KeyPath(name), keyPEM, keyFileMode); err != nil {
			return err
		}
	}
	return writeFileAtomic(d.CertPath(name), certPEM, certFileMode)
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// over path, so readers see the old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Make the rename itself durable; a failure here loses nothing written.
	if df, derr := os.Open(dir); derr == nil {
		_ = df.Sync()
		_ = df.Close()
	}
	return nil
}

// checkFileName refuses names that would escape the directory.
func checkFileName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || strings.ContainsRune(name, 0) {
		return fmt.Errorf("certificate name %q must be a plain file name", name)
	}
	return nil
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func sameIPs(a, b []net.IP) bool {
	str := func(ips []net.IP) []string {
		s := make([]string, len(ips))
		for i, ip := range ips {
			s[i] = ip.String()
		}
		return s
	}
	return sameStrings(str(a), str(b))
}

func sortedEKU(e []x509.ExtKeyUsage) []x509.ExtKeyUsage {
	e = slices.Clone(e)
	slices.Sort(e)
	return e
}
