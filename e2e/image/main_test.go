package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/nspawn"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// imageEnv names the image's root file system; default the one make image
// builds, out/image/local-rootfs/rootfs.
const imageEnv = "ETCDBOOT_IMAGE"

// fatalOrSkip fails when end-to-end tests are required (CI), else skips.
func fatalOrSkip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(netlab.RequiredEnv) == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// binDir holds the binaries of this tree: etcdboot, etcdboot-agent, etcd.
func binDir(t testing.TB) string {
	t.Helper()
	return etcdtest.BinDir(t, "etcd", "etcdctl", "etcdboot", "etcdboot-agent")
}

// imageRoot is the built image, which must carry this tree's agent: an image
// built from older code would test that code instead.
func imageRoot(t testing.TB, bin string) string {
	t.Helper()
	netlab.RequireRoot(t)
	root := os.Getenv(imageEnv)
	if root == "" {
		root, _ = filepath.Abs("../../out/image/local-rootfs/rootfs")
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/bin/etcdboot-agent")); err != nil {
		fatalOrSkip(t, "no image at %s (%v): run make image, or set %s", root, err, imageEnv)
	}
	for _, tool := range []string{"systemd-nspawn", "nsenter", "journalctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			fatalOrSkip(t, "%s not found: run make deps", tool)
		}
	}
	if a, b := fileSum(t, filepath.Join(root, "usr/local/bin/etcdboot-agent")), fileSum(t, filepath.Join(bin, "etcdboot-agent")); a != b {
		t.Fatalf("the image at %s carries another etcdboot-agent than %s: rebuild it (make image; make e2e-image does when needed)", root, bin)
	}
	return root
}

func fileSum(t testing.TB, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// newCluster generates a cluster into a fresh lab; no node is started.
func newCluster(t testing.TB, opts testcluster.Options) *testcluster.Cluster {
	t.Helper()
	opts.Bin = binDir(t)
	lab := netlab.NewForTest(t, netlab.Options{Prefix: "ebt", LogDir: t.TempDir()})
	if opts.WorkDir == "" {
		opts.WorkDir = t.TempDir()
	}
	c, err := testcluster.New(lab, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newMachine prepares a copy of the image in node's namespace; it is closed
// (and its journal printed if the test failed) when the test ends.
func newMachine(t testing.TB, image string, n *testcluster.Node, binds ...string) *nspawn.Machine {
	t.Helper()
	m, err := nspawn.New(nspawn.Options{
		Image:   image,
		Name:    n.Host.NS,
		NetNS:   "/run/netns/" + n.Host.NS,
		LogPath: filepath.Join(t.TempDir(), "nspawn.log"),
		Binds:   binds,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- journal of %s (%s):\n%s", m.Name(), n.Name, m.Journal(60))
			t.Logf("--- %s's agent and watcher:\n%s", m.Name(), m.Journal(40, "etcdboot-agent.service", "etcdboot-watch.service"))
		}
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// status runs the real `etcdboot status` from the host until every member is
// healthy, and returns its table.
func status(t testing.TB, bin string, timeout time.Duration, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := exec.Command(filepath.Join(bin, "etcdboot"), append([]string{"status"}, args...)...).CombinedOutput()
		if err == nil {
			return string(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcdboot status %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		time.Sleep(time.Second)
	}
}

// nftRuleset is the nftables ruleset of a node's namespace, which the
// machine's agent loaded.
func nftRuleset(t testing.TB, n *testcluster.Node) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := n.Host.Run(ctx, "nft", "list", "ruleset")
	if err != nil {
		t.Fatalf("nft list ruleset in %s: %v", n.Name, err)
	}
	return string(out)
}

// waitBooted waits until the machine's agent ran and etcd is active.
func waitBooted(t testing.TB, m *nspawn.Machine, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, unit := range []string{"etcdboot-agent.service", "etcd.service"} {
		if err := m.WaitActive(ctx, unit); err != nil {
			t.Fatal(err)
		}
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !bytes.Contains([]byte(s), []byte(sub)) {
			return false
		}
	}
	return true
}
