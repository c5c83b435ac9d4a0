package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
)

// binDir holds the binaries under test: etcdboot-agent, etcd, etcdctl.
func binDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ETCDBOOT_BIN")
	if dir == "" {
		dir, _ = filepath.Abs("../bin")
	}
	for _, b := range []string{"etcd", "etcdctl", "etcdboot-agent"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			msg := "missing " + filepath.Join(dir, b) + ": run make build etcd"
			if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return dir
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
