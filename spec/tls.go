package spec

import (
	"crypto/tls"
	"fmt"
	"slices"
)

// TLS versions tls.minVersion takes, spelled as etcd's --tls-min-version.
const (
	TLS12 = "TLS1.2"
	TLS13 = "TLS1.3"
)

// DefaultTLSMinVersion is the minimum TLS version of every port etcdboot
// owns unless the spec allows TLS 1.2.
const DefaultTLSMinVersion = TLS13

// TLSMinVersions are the values tls.minVersion takes.
var TLSMinVersions = []string{TLS13, TLS12}

// TLS12CipherSuites are the only TLS 1.2 cipher suites a port etcdboot owns
// offers when tls.minVersion is TLS1.2 (as etcd's --cipher-suites, in Go's
// and etcd's spelling). Each is ECDHE, so a stolen key does not decrypt
// recorded sessions (forward secrecy), and AEAD (AES-GCM, ChaCha20-Poly1305),
// so no CBC padding or MAC-then-encrypt oracle (Lucky13, POODLE-style) and no
// SHA-1 MAC: Mozilla's "intermediate" TLS 1.2 list without its DHE suites,
// which Go does not implement. ECDSA and RSA variants both stay, as
// pki.keyAlgorithm issues either. iPXE, the documented client that needs
// TLS 1.2 (it has no TLS 1.3), offers ECDHE_RSA with AES-GCM in recent
// builds; older builds, with RSA key exchange and CBC only, cannot connect.
// TLS 1.3's own suites are all AEAD and need no list.
var TLS12CipherSuites = []string{
	"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}

// TLS is the TLS policy of every port etcdboot owns: etcd's client, peer
// and metrics listeners, the agent's metrics endpoint and `etcdboot serve
// --tls`.
//
//	tls:
//	  minVersion: TLS1.3   # the default; TLS1.2 keeps old clients (iPXE)
//
// TLS1.2 also restricts TLS 1.2 to TLS12CipherSuites.
type TLS struct {
	// MinVersion is "TLS1.3" (the default) or "TLS1.2".
	MinVersion string `yaml:"minVersion,omitempty"`
}

// EffectiveTLSMinVersion is minVersion, or DefaultTLSMinVersion when it is
// empty (a payload of before the field existed gets the default too).
func EffectiveTLSMinVersion(minVersion string) string {
	if minVersion == "" {
		return DefaultTLSMinVersion
	}
	return minVersion
}

// TLSCipherSuites are etcd's --cipher-suites for minVersion: TLS12CipherSuites
// when TLS 1.2 is allowed, none for TLS 1.3 (etcd refuses a list then).
func TLSCipherSuites(minVersion string) []string {
	if EffectiveTLSMinVersion(minVersion) == TLS12 {
		return slices.Clone(TLS12CipherSuites)
	}
	return nil
}

// ServerTLS returns what a Go listener sets to follow minVersion: the
// minimum protocol version and, when TLS 1.2 is allowed, its cipher suites
// (nil for TLS 1.3, whose suites Go does not let one choose).
func ServerTLS(minVersion string) (version uint16, cipherSuites []uint16, err error) {
	switch EffectiveTLSMinVersion(minVersion) {
	case TLS13:
		return tls.VersionTLS13, nil, nil
	case TLS12:
		ids := make([]uint16, 0, len(TLS12CipherSuites))
		for _, name := range TLS12CipherSuites {
			i := slices.IndexFunc(tls.CipherSuites(), func(s *tls.CipherSuite) bool { return s.Name == name })
			if i < 0 {
				return 0, nil, fmt.Errorf("cipher suite %s: Go does not offer it", name)
			}
			ids = append(ids, tls.CipherSuites()[i].ID)
		}
		return tls.VersionTLS12, ids, nil
	}
	return 0, nil, fmt.Errorf("tls.minVersion %q: use %s or %s", minVersion, TLS13, TLS12)
}

// tlsPolicy checks a tls.minVersion; empty is valid in a node payload only
// (the default), as a cluster spec has its defaults applied.
func (c *checker) tlsPolicy(minVersion, path string) {
	if minVersion == "" || slices.Contains(TLSMinVersions, minVersion) {
		return
	}
	switch minVersion {
	case "TLS1.0", "TLS1.1":
		c.errorf(path, "%q: TLS 1.0 and 1.1 are broken and etcd does not offer them; use TLS1.3 (the default) or TLS1.2", minVersion)
	default:
		c.errorf(path, "%q is not a minimum TLS version; use TLS1.3 (the default) or TLS1.2 (for clients without TLS 1.3, such as iPXE), spelt as etcd's --tls-min-version", minVersion)
	}
}
