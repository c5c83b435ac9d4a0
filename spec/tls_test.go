package spec

import (
	"crypto/tls"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestTLSMinVersionIsTLS13UnlessTheSpecAllowsTLS12(t *testing.T) {
	for _, tt := range []struct {
		name, section, want string
		suites              []string
	}{
		{"default", "", TLS13, nil},
		{"written out", "tls: {minVersion: TLS1.3}\n", TLS13, nil},
		{"old clients", "tls:\n  minVersion: TLS1.2\n", TLS12, TLS12CipherSuites},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, rep, err := ParseCluster("c.yaml", []byte(validHeader+threeMembers+tt.section))
			if err != nil || len(rep.Problems) > 0 {
				t.Fatalf("ParseCluster: %v\n%s", err, rep)
			}
			if c.TLS.MinVersion != tt.want {
				t.Errorf("tls.minVersion = %q, want %q", c.TLS.MinVersion, tt.want)
			}
			if got := TLSCipherSuites(c.TLS.MinVersion); !reflect.DeepEqual(got, tt.suites) {
				t.Errorf("cipher suites %v, want %v", got, tt.suites)
			}
		})
	}
}

// TestNodePayloadTLSMinVersion: the payload carries the cluster's minimum;
// one without it (generated before it existed) gets TLS 1.3.
func TestNodePayloadTLSMinVersion(t *testing.T) {
	payload := `apiVersion: etcdboot/v1
cluster: demo
token: demo-1
node: {name: etcd1, ips: [10.0.0.1]}
members: [{name: etcd1, ips: [10.0.0.1]}]
etcd: {version: 3.6.16, dataDir: /var/lib/etcd, configFormat: yaml, clientPort: 2379, peerPort: 2380, metricsPort: 2381}
discovery: {mode: static}
tls: {caFile: /p/ca.crt, serverCertFile: /p/s.crt, serverKeyFile: /p/s.key, peerCertFile: /p/p.crt, peerKeyFile: /p/p.key`
	for _, tt := range []struct{ section, want string }{
		{"}\n", TLS13},
		{", minVersion: TLS1.3}\n", TLS13},
		{", minVersion: TLS1.2}\n", TLS12},
	} {
		p, err := ParseNodePayload("node.yaml", []byte(payload+tt.section))
		if err != nil {
			t.Fatalf("%q: %v", tt.section, err)
		}
		if got := EffectiveTLSMinVersion(p.TLS.MinVersion); got != tt.want {
			t.Errorf("%q: minimum %s, want %s", tt.section, got, tt.want)
		}
	}
	_, err := ParseNodePayload("node.yaml", []byte(payload+", minVersion: TLS13}\n"))
	if err == nil || !strings.Contains(err.Error(), `node.yaml:8:136: tls.minVersion: "TLS13" is not a minimum TLS version; use TLS1.3 (the default) or TLS1.2`) {
		t.Fatalf("want a positioned tls.minVersion error, got %v", err)
	}
}

// TestServerTLSOffersOnlyECDHEWithAEADOnTLS12: the Go listeners' settings
// match etcd's, and every TLS 1.2 suite is forward secret and AEAD.
func TestServerTLSOffersOnlyECDHEWithAEADOnTLS12(t *testing.T) {
	v, suites, err := ServerTLS("")
	if err != nil || v != tls.VersionTLS13 || suites != nil {
		t.Errorf("ServerTLS(\"\") = %x, %v, %v; want TLS 1.3 and no suites", v, suites, err)
	}
	v, suites, err = ServerTLS(TLS12)
	if err != nil || v != tls.VersionTLS12 || len(suites) != len(TLS12CipherSuites) {
		t.Fatalf("ServerTLS(TLS1.2) = %x, %v, %v", v, suites, err)
	}
	for i, id := range suites {
		name := tls.CipherSuiteName(id)
		if name != TLS12CipherSuites[i] {
			t.Errorf("suite %d is %s, want %s", i, name, TLS12CipherSuites[i])
		}
		if !strings.HasPrefix(name, "TLS_ECDHE_") || !(strings.Contains(name, "_GCM_") || strings.Contains(name, "CHACHA20_POLY1305")) {
			t.Errorf("%s is not ECDHE with an AEAD cipher", name)
		}
		secure := slices.ContainsFunc(tls.CipherSuites(), func(s *tls.CipherSuite) bool { return s.ID == id })
		if !secure {
			t.Errorf("%s is on Go's insecure list", name)
		}
	}
	if _, _, err := ServerTLS("TLS1.1"); err == nil {
		t.Error("ServerTLS accepted TLS1.1")
	}
}
