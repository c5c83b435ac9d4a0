// Package tlstest shakes hands with a TLS server the way an outside client
// does, with the real openssl s_client pinned to one protocol version (and,
// for TLS 1.2, to chosen cipher suites), so tests can check what each port
// etcdboot owns accepts and refuses. Tests skip when openssl is missing, or
// fail with ETCDBOOT_E2E_REQUIRED=1.
package tlstest
