package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/spec"
)

// BenchmarkTimeToHealthy compares, in the same run, how long a 3-member
// cluster takes to answer ready on every member when each member is brought
// up by etcdboot-agent (firewall, plan, config, supervised start, health gate)
// versus bare etcd started with the very settings the agent wrote.
//
// Each iteration runs healthyPairs pairs, alternating which side goes first,
// and the figures are medians over the pairs: one cluster's first election
// takes from a few hundred milliseconds to seconds (randomised election
// timeouts), so a mean of a few pairs says little. agent/bare is the median
// of the pairs' ratios. Both sides are timed to the moment each member
// answered ready: the agent's healthy journal record (its own readyz probe),
// bare etcd's readyz probe.
func BenchmarkTimeToHealthy(b *testing.B) {
	// Page both binaries in first: a cold etcd binary costs seconds, and
	// whichever side ran first would pay it.
	bin := binDir(b)
	for _, argv := range [][]string{{filepath.Join(bin, "etcd"), "--version"}, {filepath.Join(bin, "etcdboot-agent"), "version"}} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v: %s", argv, err, out)
		}
	}
	var agents, bares, ratios []float64
	for i := 0; i < b.N*healthyPairs; i++ {
		var agent, bare time.Duration
		if i%2 == 0 {
			agent = timeAgentCluster(b)
			bare = timeBareCluster(b)
		} else {
			bare = timeBareCluster(b)
			agent = timeAgentCluster(b)
		}
		agents = append(agents, float64(agent.Milliseconds()))
		bares = append(bares, float64(bare.Milliseconds()))
		ratios = append(ratios, float64(agent)/float64(bare))
	}
	b.ReportMetric(median(agents), "agent-ms")
	b.ReportMetric(median(bares), "bare-etcd-ms")
	b.ReportMetric(median(ratios), "agent/bare")
	// Bare etcd takes either ~0.4 s or ~2.5 s, by how the three starts
	// interleave (see the README), so the median of the ratios says little
	// alone: the slowest of each side and the ratio of the means say the
	// rest.
	b.ReportMetric(slices.Max(agents), "agent-max-ms")
	b.ReportMetric(slices.Max(bares), "bare-etcd-max-ms")
	b.ReportMetric(mean(agents)/mean(bares), "mean-agent/mean-bare")
	fmt.Printf("time to healthy, 3 members, median of %d pairs: agent %.0f ms (%.0f-%.0f), bare etcd %.0f ms (%.0f-%.0f), ratio %.2f (%.2f-%.2f), ratio of the means %.2f\n",
		len(ratios), median(agents), slices.Min(agents), slices.Max(agents), median(bares), slices.Min(bares), slices.Max(bares),
		median(ratios), slices.Min(ratios), slices.Max(ratios), mean(agents)/mean(bares))
}

func mean(v []float64) float64 {
	var sum float64
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// healthyPairs is how many agent/bare pairs one iteration of
// BenchmarkTimeToHealthy runs: make bench's -benchtime 2x gives 10.
const healthyPairs = 5

func timeAgentCluster(b *testing.B) time.Duration {
	c := newCluster(b, testcluster.Options{Members: 3})
	start := time.Now()
	if err := c.StartAll(); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		b.Fatal(err)
	}
	// Timed to the last healthy journal record, not to WaitHealthy's
	// return: it polls every 200 ms.
	at, err := c.HealthyAt()
	if err != nil {
		b.Fatal(err)
	}
	// The next cluster needs the lab's prefix and subnet.
	if err := c.Lab.Close(); err != nil {
		b.Fatal(err)
	}
	return at.Sub(start)
}

func timeBareCluster(b *testing.B) time.Duration {
	c := newCluster(b, testcluster.Options{Members: 3})
	// Let the agent write etcd's configuration, then stop before it starts etcd.
	for _, n := range c.Nodes {
		if err := n.StartAgent("--crash-after", string(bootstrap.StepConfig)); err != nil {
			b.Fatal(err)
		}
		<-n.Agent.Exited()
	}
	tlsConf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for _, n := range c.Nodes {
		env, err := bootstrap.ReadEnvFile(filepath.Join(n.Root, "etc/etcd/etcd.conf"))
		if err != nil {
			b.Fatal(err)
		}
		logDir := b.TempDir()
		if _, err := n.Host.Start("bare-etcd", []string{filepath.Join(c.Opts.Bin, "etcd")}, append(env, "ETCD_LOG_OUTPUTS="+filepath.Join(logDir, "etcd.log"))); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range c.Nodes {
		if err := bootstrap.WaitReady(ctx, bootstrap.HealthURL(n.ClientURL(), 6), tlsConf, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	if err := c.Lab.Close(); err != nil {
		b.Fatal(err)
	}
	return elapsed
}

// BenchmarkTimeToHealthyByMode compares a 3-member cluster's time to healthy
// through the agent in each formation mode against static, in the same run.
func BenchmarkTimeToHealthyByMode(b *testing.B) {
	modes := []string{spec.DiscoveryStatic, spec.DiscoveryDNS, spec.DiscoveryEtcd}
	totals := map[string]time.Duration{}
	for i := 0; i < b.N; i++ {
		for _, mode := range modes {
			totals[mode] += timeMode(b, mode)
		}
	}
	static := totals[spec.DiscoveryStatic]
	for _, mode := range modes {
		avg := totals[mode] / time.Duration(b.N)
		b.ReportMetric(float64(avg.Milliseconds()), mode+"-ms")
		b.ReportMetric(float64(totals[mode])/float64(static), mode+"/static")
		fmt.Printf("time to healthy, 3 members, %s discovery: %v (%.2f x static)\n", mode, avg, float64(totals[mode])/float64(static))
	}
}

func timeMode(b *testing.B, mode string) time.Duration {
	bin := binDir(b)
	lab := newLab(b)
	opts := testcluster.Options{Members: 3, Bin: bin, WorkDir: b.TempDir(), Discovery: mode}
	token := "bench-token"
	switch mode {
	case spec.DiscoveryDNS:
		opts.DNS = &spec.DNSDiscovery{Domain: testDomain, Nameserver: dnsAddr}
	case spec.DiscoveryEtcd:
		opts.EtcdDiscovery = &spec.EtcdDiscovery{Endpoints: []string{"https://" + discoAddr + ":2379"}, Token: token}
	}
	c, err := testcluster.New(lab, opts)
	if err != nil {
		b.Fatal(err)
	}
	switch mode {
	case spec.DiscoveryDNS:
		dnsServer(b, c, "etcdboot")
	case spec.DiscoveryEtcd:
		_, url := discoveryCluster(b, lab, bin, c.Out)
		dc := discovery.TokenCluster{Endpoints: []string{url}, TLS: c.AdminTLS()}
		if err := discovery.CreateToken(context.Background(), dc, token, 3); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	if err := c.StartAll(); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	if err := lab.Close(); err != nil {
		b.Fatal(err)
	}
	return elapsed
}
