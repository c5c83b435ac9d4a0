// Package audit checks the etcd configuration etcdboot generates against the
// etcd section of the CIS Kubernetes Benchmark (items 2.1 to 2.7), and
// etcdboot's own E.1 (TLS 1.3 only, or TLS 1.2 with ECDHE+AEAD suites only):
// it renders each member's configuration the way the agent writes it, reads
// it back the way etcd does (environment file or YAML config file) and
// reports PASS, FAIL or WARN per item with a one-line remediation.
package audit
