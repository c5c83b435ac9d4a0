// Package etcdtest runs real etcd members for tests: the binaries `make etcd`
// builds (Binary), mTLS with certificates from the generator's PKI, a data
// dir of the test's choosing, and free loopback ports. Every test that needs
// a real etcd outside the namespace lab uses it. Tests skip when the binaries
// are missing, or fail with ETCDBOOT_E2E_REQUIRED=1.
package etcdtest
