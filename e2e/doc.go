// Package e2e holds the end-to-end tests: real etcdboot-agent and etcd
// processes in network namespaces on a bridge (10.123.0.0/24), real nftables,
// real DNS. They need root; with ETCDBOOT_E2E_REQUIRED=1 (CI) a test that
// cannot run fails instead of skipping. The harness lives in netlab and
// testcluster.
package e2e
