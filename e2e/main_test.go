package e2e

import (
	"testing"

	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// binDir holds the binaries under test: etcdboot-agent, etcd, etcdctl.
func binDir(t testing.TB) string {
	t.Helper()
	return etcdtest.BinDir(t, "etcd", "etcdctl", "etcdboot-agent")
}

// newLab makes a lab whose logs land in the test's temp dir.
func newLab(t testing.TB) *netlab.Lab {
	t.Helper()
	return netlab.NewForTest(t, netlab.Options{Prefix: "ebt", LogDir: t.TempDir()})
}

// newCluster generates a cluster for a fresh lab; it does not start it.
func newCluster(t testing.TB, opts testcluster.Options) *testcluster.Cluster {
	t.Helper()
	opts.Bin = binDir(t)
	lab := newLab(t)
	if opts.WorkDir == "" {
		opts.WorkDir = t.TempDir()
	}
	c, err := testcluster.New(lab, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes {
				t.Logf("--- %s etcd log:\n%s", n.Name, n.EtcdLogTail(25))
			}
		}
	})
	return c
}
