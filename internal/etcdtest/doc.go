// Package etcdtest runs real etcd members for tests: the binaries `make etcd`
// and `make build` put in bin/ (Binary, BinDir), mTLS with certificates from
// the generator's PKI, a data dir of the test's choosing, and free loopback
// ports (FreePort, FreePorts). Every test that needs a real etcd or a free
// port outside the namespace lab uses it. Tests skip when the binaries are
// missing, or fail with ETCDBOOT_E2E_REQUIRED=1.
package etcdtest
