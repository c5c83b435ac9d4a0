package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/spec"
)

// TestVersionMatrix forms a cluster on every etcd release of the matrix in
// each way a cluster forms: static members, DNS SRV records served by
// etcdboot dns serve, an autoscaling group that replaces a dead member
// through a learner join and promotion, and (3.6 and later) etcd v3
// discovery. Each cluster serves a write and a read, and every member
// reports the release its image carries.
func TestVersionMatrix(t *testing.T) {
	for _, release := range etcdtest.Versions {
		t.Run(release+"/static", func(t *testing.T) {
			c := newCluster(t, testcluster.Options{Members: 3, EtcdVersion: release})
			startHealthy(t, c)
			servesAndRuns(t, c, release)
		})
		t.Run(release+"/dns-srv", func(t *testing.T) {
			d := &spec.DNSDiscovery{Domain: testDomain, Nameserver: dnsAddr}
			c := newCluster(t, testcluster.Options{Members: 3, Discovery: spec.DiscoveryDNS, DNS: d, EtcdVersion: release})
			dnsServer(t, c, "etcdboot")
			startHealthy(t, c)
			servesAndRuns(t, c, release)
		})
		t.Run(release+"/group-learner-join", func(t *testing.T) {
			c := newCluster(t, testcluster.Options{GroupSize: 3, Seeds: []int{11, 12, 13}, EtcdVersion: release})
			for _, h := range []int{11, 12, 13} {
				if _, err := c.AddNode(h); err != nil {
					t.Fatal(err)
				}
			}
			startHealthy(t, c)
			dead := c.Nodes[2]
			fresh, err := c.ReplaceNode(dead, 14)
			if err != nil {
				t.Fatal(err)
			}
			if st, _ := fresh.Journal(); st.Plan == nil || st.Plan.Action != bootstrap.ActionJoin {
				t.Errorf("replacement plan %+v, want join", st.Plan)
			}
			assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-14")
			servesAndRuns(t, c, release)
		})
		if release == "v3.5.27" {
			continue // etcd 3.5 has no v3 discovery; and the spec refuses it by name (spec tests)
		}
		t.Run(release+"/etcd-v3-discovery", func(t *testing.T) {
			bin := binDir(t)
			lab := newLab(t)
			token := "matrix-" + strings.ReplaceAll(release, ".", "-")
			c, err := testcluster.New(lab, testcluster.Options{Members: 3, Bin: bin, WorkDir: t.TempDir(), Discovery: spec.DiscoveryEtcd,
				EtcdDiscovery: &spec.EtcdDiscovery{Endpoints: []string{"https://" + discoAddr + ":2379"}, Token: token}, EtcdVersion: release})
			if err != nil {
				t.Fatal(err)
			}
			_, url := discoveryCluster(t, lab, bin, c.Out)
			admin := c.AdminTLS()
			out, err := exec.Command(filepath.Join(bin, "etcdboot"), "discovery", "new", "--size", "3", "--token", token,
				"--endpoints", url, "--cacert", admin.CAFile, "--cert", admin.CertFile, "--key", admin.KeyFile).CombinedOutput()
			if err != nil {
				t.Fatalf("discovery new: %v\n%s", err, out)
			}
			startHealthy(t, c)
			servesAndRuns(t, c, release)
		})
	}
}

// servesAndRuns writes through the first node and reads through every
// other, and checks that every member runs release.
func servesAndRuns(t *testing.T, c *testcluster.Cluster, release string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := fmt.Sprintf("written-on-%s", release)
	if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/matrix", want); err != nil {
		t.Fatal(err)
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for _, n := range c.Nodes {
		if got, err := c.Get(ctx, n.ClientURL(), "/matrix"); err != nil || got != want {
			t.Errorf("read via %s: %q, %v", n.Name, got, err)
		}
		st, err := cli.Status(ctx, n.ClientURL())
		if err != nil {
			t.Fatalf("status of %s: %v", n.Name, err)
		}
		if "v"+st.Version != release {
			t.Errorf("%s runs etcd %s, want %s", n.Name, st.Version, release)
		}
	}
}
