// Package snapshottest runs real etcd members for the tests of snapshot
// save and restore: the binaries `make etcd` builds, mTLS with certificates
// from the generator's PKI, a data dir of the test's choosing. Tests skip
// when the binaries are missing, or fail with ETCDBOOT_E2E_REQUIRED=1.
package snapshottest
