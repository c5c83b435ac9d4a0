package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/nspawn"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
)

// BenchmarkImageBootToHealthy boots three copies of the built image with
// their members' cloud-init seeds and measures the time from the boot to
// every member answering /readyz (cloud-init, agent, firewall, etcd, the
// cluster forming). In the same run it boots three copies of the same image
// with no payload to multi-user.target: the bare boot every image pays. The
// ratio is what bootstrapping a member adds on top of booting the OS.
func BenchmarkImageBootToHealthy(b *testing.B) {
	bin := binDir(b)
	image := imageRoot(b, bin)
	var clusterTotal, bareTotal time.Duration
	for i := 0; i < b.N; i++ {
		// Alternate which goes first: the first pays for a cold page cache.
		if i%2 == 0 {
			clusterTotal += timeClusterBoot(b, image)
			bareTotal += timeBareBoot(b, image)
		} else {
			bareTotal += timeBareBoot(b, image)
			clusterTotal += timeClusterBoot(b, image)
		}
	}
	cluster, bare := clusterTotal/time.Duration(b.N), bareTotal/time.Duration(b.N)
	b.ReportMetric(cluster.Seconds(), "boot-to-healthy-s")
	b.ReportMetric(bare.Seconds(), "bare-boot-s")
	b.ReportMetric(float64(cluster)/float64(bare), "healthy/bare-boot")
	fmt.Printf("3 nspawn boots: to a healthy cluster %v, bare boot to multi-user.target %v, ratio %.2f\n",
		cluster.Round(100*time.Millisecond), bare.Round(100*time.Millisecond), float64(cluster)/float64(bare))
}

// timeClusterBoot boots a 3-member cluster from cloud-init seeds and returns
// the time until every member is ready.
func timeClusterBoot(b *testing.B, image string) time.Duration {
	c := newCluster(b, testcluster.Options{Members: 3})
	run := fmt.Sprint(time.Now().UnixNano())
	var machines []*nspawn.Machine
	for i, n := range c.Nodes {
		m := newMachine(b, image, n)
		userData, err := os.ReadFile(filepath.Join(c.Result.Nodes[i].Dir, "user-data"))
		if err != nil {
			b.Fatal(err)
		}
		if err := m.SeedNoCloud(userData, n.Name+"-"+run, n.Name); err != nil {
			b.Fatal(err)
		}
		machines = append(machines, m)
	}
	tlsConf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	start := bootAll(b, machines)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, n := range c.Nodes {
		if err := bootstrap.WaitReady(ctx, bootstrap.HealthURL(n.ClientURL(), 6), tlsConf, 5*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	closeAll(b, c, machines)
	return elapsed
}

// timeBareBoot boots three copies of the image with no payload and returns
// the time until each reached multi-user.target.
func timeBareBoot(b *testing.B, image string) time.Duration {
	c := newCluster(b, testcluster.Options{Members: 3})
	var machines []*nspawn.Machine
	for _, n := range c.Nodes {
		machines = append(machines, newMachine(b, image, n))
	}
	start := bootAll(b, machines)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, m := range machines {
		if err := m.WaitActive(ctx, "multi-user.target"); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	closeAll(b, c, machines)
	return elapsed
}

// bootAll boots the machines and returns when it started.
func bootAll(b *testing.B, machines []*nspawn.Machine) time.Time {
	start := time.Now()
	for _, m := range machines {
		if err := m.Boot(); err != nil {
			b.Fatal(err)
		}
	}
	return start
}

// closeAll halts the machines, then closes the lab they ran in: the next
// round needs the lab's prefix and subnet.
func closeAll(b *testing.B, c *testcluster.Cluster, machines []*nspawn.Machine) {
	for _, m := range machines {
		if err := m.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Lab.Close(); err != nil {
		b.Fatal(err)
	}
}
