package pki

import (
	"net"
	"testing"
	"time"
)

func benchmarkIssue(b *testing.B, key KeySpec) {
	ca := mustRoot(b, key)
	server, _ := MemberRequests("etcd1", "etcd1.example.internal", []net.IP{net.ParseIP("10.0.0.1")}, nil, key, 24*time.Hour)
	for b.Loop() {
		if _, err := ca.Issue(server); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueECDSA measures key generation plus signing of a P-256 member certificate.
func BenchmarkIssueECDSA(b *testing.B) { benchmarkIssue(b, ecdsa256) }

// BenchmarkIssueRSA2048 measures the same with RSA 2048 keys, the manual procedure's.
func BenchmarkIssueRSA2048(b *testing.B) { benchmarkIssue(b, rsa2048) }
