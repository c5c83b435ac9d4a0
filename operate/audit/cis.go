package audit

import (
	"fmt"
	"slices"
	"strings"

	"github.com/etcdboot/etcdboot/spec"
)

// Status is a finding's verdict.
type Status string

// Verdicts, as kube-bench prints them.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	// Warn is for what cannot be decided from the configuration alone.
	Warn Status = "WARN"
)

// Item is one recommendation of the benchmark's etcd section.
type Item struct {
	// ID is the benchmark's number, e.g. "2.1".
	ID string `json:"id"`
	// Title is the recommendation as the benchmark words it.
	Title string `json:"title"`
	// Remediation is what to change, in one line.
	Remediation string `json:"remediation"`
}

// Items of the CIS Kubernetes Benchmark, section 2 "Etcd Node Configuration".
var (
	ItemCertFile = Item{"2.1", "Ensure that the --cert-file and --key-file arguments are set as appropriate",
		"set ETCD_CERT_FILE and ETCD_KEY_FILE (client-transport-security.cert-file, key-file) to the member's server certificate and key"}
	ItemClientCertAuth = Item{"2.2", "Ensure that the --client-cert-auth argument is set to true",
		"set ETCD_CLIENT_CERT_AUTH=true and ETCD_TRUSTED_CA_FILE to the etcd CA (client-transport-security.client-cert-auth, trusted-ca-file)"}
	ItemAutoTLS = Item{"2.3", "Ensure that the --auto-tls argument is not set to true",
		"remove ETCD_AUTO_TLS (client-transport-security.auto-tls) or set it to false; serve the CA-issued server certificate"}
	ItemPeerCertFile = Item{"2.4", "Ensure that the --peer-cert-file and --peer-key-file arguments are set as appropriate",
		"set ETCD_PEER_CERT_FILE and ETCD_PEER_KEY_FILE (peer-transport-security.cert-file, key-file) to the member's peer certificate and key"}
	ItemPeerClientCertAuth = Item{"2.5", "Ensure that the --peer-client-cert-auth argument is set to true",
		"set ETCD_PEER_CLIENT_CERT_AUTH=true and ETCD_PEER_TRUSTED_CA_FILE to the etcd CA (peer-transport-security.client-cert-auth, trusted-ca-file)"}
	ItemPeerAutoTLS = Item{"2.6", "Ensure that the --peer-auto-tls argument is not set to true",
		"remove ETCD_PEER_AUTO_TLS (peer-transport-security.auto-tls) or set it to false; use the CA-issued peer certificate"}
	ItemUniqueCA = Item{"2.7", "Ensure that a unique Certificate Authority is used for etcd",
		"issue etcd's certificates from a CA used for nothing else: let etcdboot generate make one (out/pki/ca.crt), never the Kubernetes cluster CA"}
)

// ItemTLSMinVersion is etcdboot's own check beyond the benchmark (hence
// "E.1"): etcd's client, peer and metrics listeners take TLS 1.3 only, or
// TLS 1.2 with forward-secret AEAD suites only. Left unset, etcd accepts TLS
// 1.2 with all of Go's default suites, CBC ones included.
var ItemTLSMinVersion = Item{"E.1", "Ensure that --tls-min-version is TLS1.3, or TLS1.2 with only ECDHE+AEAD --cipher-suites",
	"set ETCD_TLS_MIN_VERSION=TLS1.3 (tls-min-version); where clients need TLS 1.2, write tls: {minVersion: TLS1.2} in the cluster spec and regenerate, which limits ETCD_CIPHER_SUITES (cipher-suites) to ECDHE with AES-GCM or ChaCha20-Poly1305"}

// Items lists the benchmark's section in order.
var Items = []Item{ItemCertFile, ItemClientCertAuth, ItemAutoTLS, ItemPeerCertFile, ItemPeerClientCertAuth, ItemPeerAutoTLS, ItemUniqueCA}

// SettingItems are the items checked on a member's etcd settings, in
// order: the benchmark's 2.1 to 2.6, then ItemTLSMinVersion.
var SettingItems = []Item{ItemCertFile, ItemClientCertAuth, ItemAutoTLS, ItemPeerCertFile, ItemPeerClientCertAuth, ItemPeerAutoTLS, ItemTLSMinVersion}

// Finding is the verdict on one item for one configuration.
type Finding struct {
	Item
	Status Status `json:"status"`
	// Detail is what was found, in the file's own spelling
	// (ETCD_CLIENT_CERT_AUTH=true).
	Detail string `json:"detail"`
}

func finding(it Item, ok bool, detail ...string) Finding {
	f := Finding{Item: it, Status: Fail, Detail: strings.Join(detail, ", ")}
	if ok {
		f.Status = Pass
	}
	return f
}

// AuditSettings checks SettingItems (2.1 to 2.6 and E.1) on the settings
// etcd reads. Item 2.7 is about the CA's identity, not a setting: see
// UniqueCA.
func AuditSettings(s Settings) []Finding {
	if cfg, ok := s.Get("config-file"); ok && !s.yaml {
		// etcd then ignores every other variable and flag.
		var out []Finding
		for _, it := range SettingItems {
			out = append(out, Finding{Item: it, Status: Warn, Detail: s.show("config-file") + ": etcd reads its settings from " + cfg + "; audit that file"})
		}
		return out
	}
	return []Finding{
		filesSet(s, ItemCertFile, "cert-file", "key-file"),
		certAuth(s, ItemClientCertAuth, "client-cert-auth", "trusted-ca-file"),
		notTrue(s, ItemAutoTLS, "auto-tls"),
		filesSet(s, ItemPeerCertFile, "peer-cert-file", "peer-key-file"),
		certAuth(s, ItemPeerClientCertAuth, "peer-client-cert-auth", "peer-trusted-ca-file"),
		notTrue(s, ItemPeerAutoTLS, "peer-auto-tls"),
		tlsMinimum(s),
	}
}

// AuditEnv checks SettingItems on an etcd environment file
// (/etc/etcd/etcd.conf); a file that cannot be read fails every item.
func AuditEnv(env []byte) []Finding {
	s, err := ParseEnv(env)
	if err != nil {
		return unreadable(err)
	}
	return AuditSettings(s)
}

// AuditYAML checks SettingItems on an etcd --config-file document; a
// document that cannot be read fails every item.
func AuditYAML(data []byte) []Finding {
	s, err := ParseYAML(data)
	if err != nil {
		return unreadable(err)
	}
	return AuditSettings(s)
}

func unreadable(err error) []Finding {
	var out []Finding
	for _, it := range SettingItems {
		out = append(out, Finding{Item: it, Status: Fail, Detail: err.Error()})
	}
	return out
}

// filesSet passes when both files are set to something.
func filesSet(s Settings, it Item, cert, key string) Finding {
	c, _ := s.Get(cert)
	k, _ := s.Get(key)
	return finding(it, c != "" && k != "", s.show(cert), s.show(key))
}

// certAuth passes when client certificates are required and verified
// against a named CA. The benchmark asks only for the first; without the
// second etcd verifies client certificates against the system's CAs, so
// any certificate a public CA issued would do.
func certAuth(s Settings, it Item, auth, ca string) Finding {
	on, valid := s.Bool(auth)
	caFile, _ := s.Get(ca)
	f := finding(it, on && valid && caFile != "", s.show(auth), s.show(ca))
	switch {
	case !valid:
		f.Detail += " (not a boolean: etcd refuses to start)"
	case on && caFile == "":
		f.Detail += " (no CA to verify client certificates against: the system's CAs would be trusted)"
	}
	return f
}

// notTrue passes when the flag is unset or false.
func notTrue(s Settings, it Item, flag string) Finding {
	on, valid := s.Bool(flag)
	f := finding(it, valid && !on, s.show(flag))
	if !valid {
		f.Detail += " (not a boolean: etcd refuses to start)"
	}
	return f
}

// tlsMinimum passes when etcd takes TLS 1.3 only, or TLS 1.2 with only
// ECDHE+AEAD suites: what etcdconfig writes for tls.minVersion TLS1.3 and
// TLS1.2.
func tlsMinimum(s Settings) Finding {
	minVersion, _ := s.Get("tls-min-version")
	suites, _ := s.Get("cipher-suites")
	var names []string
	for _, n := range strings.Split(suites, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	f := finding(ItemTLSMinVersion, false, s.show("tls-min-version"), s.show("cipher-suites"))
	switch minVersion {
	case "":
		f.Detail += " (etcd then accepts TLS 1.2 with Go's default suites, CBC ones included)"
	case spec.TLS13:
		if len(names) > 0 {
			f.Detail += " (etcd refuses to start: cipher suites cannot be chosen for TLS 1.3)"
		} else {
			f.Status = Pass
		}
	case spec.TLS12:
		weak := slices.DeleteFunc(slices.Clone(names), strongTLS12Suite)
		switch {
		case len(names) == 0:
			f.Detail += " (TLS 1.2 with Go's default suites, CBC ones included)"
		case len(weak) > 0:
			f.Detail += " (not ECDHE with AES-GCM or ChaCha20-Poly1305: " + strings.Join(weak, ", ") + ")"
		default:
			f.Status = Pass
		}
	default:
		f.Detail += " (not TLS1.2 or TLS1.3: etcd refuses to start)"
	}
	return f
}

// strongTLS12Suite reports whether a suite, in etcd's (Go's) spelling, is
// forward secret (ECDHE) and AEAD (AES-GCM, ChaCha20-Poly1305).
func strongTLS12Suite(name string) bool {
	return strings.HasPrefix(name, "TLS_ECDHE_") && (strings.Contains(name, "_GCM_") || strings.HasSuffix(name, "_CHACHA20_POLY1305") || strings.HasSuffix(name, "_CHACHA20_POLY1305_SHA256"))
}

// String renders a finding as kube-bench does: "[PASS] 2.1 Title: detail".
func (f Finding) String() string {
	return fmt.Sprintf("[%s] %s %s: %s", f.Status, f.ID, f.Title, f.Detail)
}
