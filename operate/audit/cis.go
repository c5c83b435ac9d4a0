package audit

import (
	"fmt"
	"strings"
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

// Items lists the section in order.
var Items = []Item{ItemCertFile, ItemClientCertAuth, ItemAutoTLS, ItemPeerCertFile, ItemPeerClientCertAuth, ItemPeerAutoTLS, ItemUniqueCA}

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

// AuditSettings checks items 2.1 to 2.6 on the settings etcd reads. Item 2.7
// is about the CA's identity, not a setting: see UniqueCA.
func AuditSettings(s Settings) []Finding {
	if cfg, ok := s.Get("config-file"); ok && !s.yaml {
		// etcd then ignores every other variable and flag.
		var out []Finding
		for _, it := range Items[:6] {
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
	}
}

// AuditEnv checks items 2.1 to 2.6 on an etcd environment file
// (/etc/etcd/etcd.conf); a file that cannot be read fails every item.
func AuditEnv(env []byte) []Finding {
	s, err := ParseEnv(env)
	if err != nil {
		return unreadable(err)
	}
	return AuditSettings(s)
}

// AuditYAML checks items 2.1 to 2.6 on an etcd --config-file document; a
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
	for _, it := range Items[:6] {
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

// String renders a finding as kube-bench does: "[PASS] 2.1 Title: detail".
func (f Finding) String() string {
	return fmt.Sprintf("[%s] %s %s: %s", f.Status, f.ID, f.Title, f.Detail)
}
