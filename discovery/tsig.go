package discovery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/spec"
)

// DefaultTSIGAlgorithm signs updates when a spec.TSIGKey names no algorithm.
const DefaultTSIGAlgorithm = "hmac-sha256"

// tsigFudge is the clock skew, in seconds, a signature tolerates (RFC 8945).
const tsigFudge = 300

// tsigHashes are the HMAC algorithms accepted, by canonical name. HMAC-MD5
// is left out: RFC 8945 deprecates it.
var tsigHashes = map[string]func() hash.Hash{
	dns.HmacSHA1:   sha1.New,
	dns.HmacSHA224: sha256.New224,
	dns.HmacSHA256: sha256.New,
	dns.HmacSHA384: sha512.New384,
	dns.HmacSHA512: sha512.New,
}

// NewTSIGKey returns a key named name for signed updates: hmac-sha256 and a
// random 32-byte secret, base64-encoded like BIND's tsig-keygen.
func NewTSIGKey(name string) (spec.TSIGKey, error) {
	if _, ok := dns.IsDomainName(name); !ok || name == "" || name == "." {
		return spec.TSIGKey{}, fmt.Errorf("new TSIG key: name %q is not a domain name (e.g. etcdboot-update)", name)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return spec.TSIGKey{}, fmt.Errorf("new TSIG key %s: %w", name, err)
	}
	return spec.TSIGKey{
		Name:      dns.CanonicalName(name),
		Algorithm: DefaultTSIGAlgorithm,
		Secret:    base64.StdEncoding.EncodeToString(secret),
	}, nil
}

// tsigKey is a spec.TSIGKey checked and in canonical form.
type tsigKey struct {
	name      string // canonical
	algorithm string // canonical, e.g. "hmac-sha256."
	secret    []byte
}

// parseTSIGKey checks k: a domain name, a supported algorithm, a base64
// secret.
func parseTSIGKey(k spec.TSIGKey) (tsigKey, error) {
	if _, ok := dns.IsDomainName(k.Name); !ok || k.Name == "" || k.Name == "." {
		return tsigKey{}, fmt.Errorf("TSIG key name %q is not a domain name", k.Name)
	}
	alg := k.Algorithm
	if alg == "" {
		alg = DefaultTSIGAlgorithm
	}
	alg = dns.CanonicalName(alg)
	if _, ok := tsigHashes[alg]; !ok {
		return tsigKey{}, fmt.Errorf("TSIG key %s: algorithm %q is not supported: use hmac-sha256 (or hmac-sha1, -sha224, -sha384, -sha512)", k.Name, k.Algorithm)
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k.Secret))
	if err != nil {
		return tsigKey{}, fmt.Errorf("TSIG key %s: secret is not base64: %w", k.Name, err)
	}
	if len(secret) == 0 {
		return tsigKey{}, fmt.Errorf("TSIG key %s: secret is empty: use 32 random bytes, base64-encoded (BIND tsig-keygen prints one)", k.Name)
	}
	return tsigKey{name: dns.CanonicalName(k.Name), algorithm: alg, secret: secret}, nil
}

// keyring holds TSIG keys by canonical name. It is a dns.TsigProvider that,
// unlike miekg/dns's TsigSecret map, also pins each key to its algorithm.
type keyring map[string]tsigKey

func newKeyring(keys []spec.TSIGKey) (keyring, error) {
	kr := make(keyring, len(keys))
	for _, k := range keys {
		tk, err := parseTSIGKey(k)
		if err != nil {
			return nil, err
		}
		if _, dup := kr[tk.name]; dup {
			return nil, fmt.Errorf("TSIG key %s is given twice", tk.name)
		}
		kr[tk.name] = tk
	}
	return kr, nil
}

// errKeyAlgorithm is a signature made with another algorithm than its key's.
var errKeyAlgorithm = errors.New("TSIG algorithm does not match the key")

func (kr keyring) mac(msg []byte, t *dns.TSIG) ([]byte, error) {
	k, ok := kr[dns.CanonicalName(t.Hdr.Name)]
	if !ok {
		return nil, dns.ErrSecret
	}
	if dns.CanonicalName(t.Algorithm) != k.algorithm {
		return nil, errKeyAlgorithm
	}
	h := hmac.New(tsigHashes[k.algorithm], k.secret)
	h.Write(msg)
	return h.Sum(nil), nil
}

// Generate implements dns.TsigProvider.
func (kr keyring) Generate(msg []byte, t *dns.TSIG) ([]byte, error) {
	return kr.mac(msg, t)
}

// Verify implements dns.TsigProvider.
func (kr keyring) Verify(msg []byte, t *dns.TSIG) error {
	want, err := kr.mac(msg, t)
	if err != nil {
		return err
	}
	got, err := hex.DecodeString(t.MAC)
	if err != nil {
		return dns.ErrSig
	}
	if !hmac.Equal(want, got) {
		return dns.ErrSig
	}
	return nil
}

// tsigErrorCode maps a TSIG verification failure to its RFC 8945 error code.
func tsigErrorCode(err error) uint16 {
	switch {
	case errors.Is(err, dns.ErrSecret), errors.Is(err, errKeyAlgorithm):
		return dns.RcodeBadKey
	case errors.Is(err, dns.ErrTime):
		return dns.RcodeBadTime
	default:
		return dns.RcodeBadSig
	}
}
