package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/upgrade"
)

// etcdLayer is an image layer carrying another etcd release at the paths
// the image has it: what an image built with that release differs in.
func etcdLayer(t *testing.T, releaseDir string) string {
	t.Helper()
	layer := t.TempDir()
	dst := filepath.Join(layer, "usr", "local", "bin")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"etcd", "etcdctl", "etcdutl"} {
		in, err := os.Open(filepath.Join(releaseDir, tool))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(filepath.Join(dst, tool), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return layer
}

// TestImageRollsOntoANewEtcdOverItsDisk: three copies of the image (etcd
// 3.6.16) form a cluster from their cloud-init seeds; each is then halted
// and booted from the image with etcd 3.7.3 over the same disk, one after
// the other, as a bare-metal fleet is reimaged. Each agent's version step
// takes the upgrade under the cluster-wide lock, etcd.service's health gate
// finishes it, and the cluster reaches 3.7 with its data.
func TestImageRollsOntoANewEtcdOverItsDisk(t *testing.T) {
	bin := binDir(t)
	image := imageRoot(t, bin)
	c := newCluster(t, testcluster.Options{Members: 3})
	run := fmt.Sprint(time.Now().UnixNano())
	var machines []bootedMachine
	for i, n := range c.Nodes {
		m := newMachine(t, image, n)
		userData, err := os.ReadFile(filepath.Join(c.Result.Nodes[i].Dir, "user-data"))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SeedNoCloud(userData, n.Name+"-"+run, n.Name); err != nil {
			t.Fatal(err)
		}
		machines = append(machines, bootedMachine{m, n})
	}
	for _, bm := range machines {
		if err := bm.m.Boot(); err != nil {
			t.Fatal(err)
		}
	}
	for _, bm := range machines {
		waitBooted(t, bm.m, 3*time.Minute)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/image/upgrade", "written-on-3.6"); err != nil {
		t.Fatal(err)
	}
	// A fleet is rolled long after it formed: wait until etcd 3.6 has
	// written its storage version into every member's data dir (its
	// monitor does that a few seconds after the cluster version is set),
	// else the agent rightly refuses 3.7 over a data dir that has none.
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for _, n := range c.Nodes {
		for {
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			st, err := cli.Status(sctx, n.ClientURL())
			scancel()
			if err == nil && strings.HasPrefix(st.StorageVersion, "3.6") {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s never wrote storage version 3.6: %v, %+v", n.Name, err, st)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	layer := etcdLayer(t, filepath.Join(bin, "etcd-v3.7.3"))
	for _, bm := range machines {
		if err := bm.m.Stop(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		if err := bm.m.Reimage(layer); err != nil {
			t.Fatal(err)
		}
		if err := bm.m.Boot(); err != nil {
			t.Fatal(err)
		}
		waitBooted(t, bm.m, 3*time.Minute)
		var st bootstrap.JournalState
		data, err := os.ReadFile(bm.m.Path("var/lib/etcdboot/journal.json"))
		if err == nil {
			err = json.Unmarshal(data, &st)
		}
		if err != nil {
			t.Fatalf("%s: journal: %v", bm.n.Name, err)
		}
		if n := len(st.Upgrades); n == 0 || st.Upgrades[n-1].To != "3.7.3" || st.Upgrades[n-1].Phase != bootstrap.UpgradeDone || st.EtcdVersion != "3.7.3" {
			t.Fatalf("%s after the reimage: upgrades %+v, etcd %s; want a finished upgrade to 3.7.3", bm.n.Name, st.Upgrades, st.EtcdVersion)
		}
	}

	tlsConf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cl, err := upgrade.ObserveCluster(ctx, cli, tlsConf)
		if err == nil && cl.Version.Minor == 7 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("cluster version after the roll: %+v, %v", cl, err)
		}
		time.Sleep(time.Second)
	}
	for _, n := range c.Nodes {
		if got, err := c.Get(ctx, n.ClientURL(), "/image/upgrade"); err != nil || got != "written-on-3.6" {
			t.Errorf("read via %s after the roll: %q, %v", n.Name, got, err)
		}
	}
}
