package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
)

// putProbe puts a key every 50 ms through every endpoint, retrying, and
// keeps the time of each acknowledged put.
type putProbe struct {
	mu   sync.Mutex
	oks  []time.Time
	stop context.CancelFunc
	done chan struct{}
}

func startPutProbe(tb testing.TB, c *testcluster.Cluster) *putProbe {
	tb.Helper()
	cli, err := c.Client()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &putProbe{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer cli.Close()
		for i := 0; ctx.Err() == nil; i++ {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			_, err := cli.Put(pctx, "/bench/probe", fmt.Sprint(i))
			pcancel()
			if err == nil {
				p.mu.Lock()
				p.oks = append(p.oks, time.Now())
				p.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return p
}

// longestGap is the longest time between two acknowledged puts that
// overlaps [from, to].
func (p *putProbe) longestGap(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(p.oks); i++ {
		a, b := p.oks[i-1], p.oks[i]
		if b.Before(from) || a.After(to) {
			continue
		}
		gap = max(gap, b.Sub(a))
	}
	return gap
}

func (p *putProbe) halt() { p.stop(); <-p.done }

// BenchmarkRollingUpgrade rolls a 3-member cluster from 3.6.16 to 3.7.3 in
// place through the agents (each new agent takes the lock, moves
// leadership away if it leads, restarts etcd on the new binary) and
// measures, per member, the longest gap between two acknowledged puts of a
// client putting every 50 ms; against the same gap when a member of a bare
// etcd cluster is stopped and started again by hand in the same run.
func BenchmarkRollingUpgrade(b *testing.B) {
	var agentGap, bareGap, whole time.Duration
	for i := 0; i < b.N; i++ {
		g, w := rollAgents(b)
		agentGap += g
		whole += w
		bareGap += restartBare(b)
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64((agentGap / n).Milliseconds()), "agent-gap-ms")
	b.ReportMetric(float64((bareGap / n).Milliseconds()), "bare-gap-ms")
	b.ReportMetric(float64(agentGap)/float64(bareGap), "upgrade-gap/bare-restart")
	b.ReportMetric(float64((whole / n).Milliseconds()), "upgrade-ms")
	fmt.Printf("rolling upgrade 3.6.16 -> 3.7.3, 3 members: longest put gap per member %v (bare restart %v, ratio %.2f), whole roll %v\n",
		agentGap/n, bareGap/n, float64(agentGap)/float64(bareGap), whole/n)
}

// rollAgents returns the mean over members of the longest put gap while
// each member upgrades, and the whole roll's time.
func rollAgents(b *testing.B) (time.Duration, time.Duration) {
	c := newCluster(b, testcluster.Options{Members: 3, EtcdVersion: "v3.6.16"})
	if err := c.StartAll(); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		b.Fatal(err)
	}
	p := startPutProbe(b, c)
	defer p.halt()
	time.Sleep(time.Second)
	var gaps time.Duration
	start := time.Now()
	for _, n := range c.Nodes {
		from := time.Now()
		n.EtcdVersion = "v3.7.3"
		if err := n.StartAgent(); err != nil {
			b.Fatal(err)
		}
		if err := n.WaitHealthy(2 * time.Minute); err != nil {
			b.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // the probe's next put after the member is back
		gaps += p.longestGap(from, time.Now())
	}
	whole := time.Since(start)
	if err := c.Lab.Close(); err != nil {
		b.Fatal(err)
	}
	return gaps / 3, whole
}

// restartBare returns the mean over members of the longest put gap while
// each member of a bare etcd cluster is stopped (SIGTERM) and started again.
func restartBare(b *testing.B) time.Duration {
	c := newCluster(b, testcluster.Options{Members: 3, EtcdVersion: "v3.6.16"})
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
	procs := make([]*netlab.Process, len(c.Nodes))
	envs := make([][]string, len(c.Nodes))
	startEtcd := func(i int) {
		n := c.Nodes[i]
		p, err := n.Host.Start(fmt.Sprintf("bare-etcd-%d", time.Now().UnixNano()), []string{n.EtcdBinary()}, envs[i])
		if err != nil {
			b.Fatal(err)
		}
		procs[i] = p
	}
	ready := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := bootstrap.WaitReady(ctx, bootstrap.HealthURL(c.Nodes[i].ClientURL(), 6), tlsConf, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	for i, n := range c.Nodes {
		env, err := bootstrap.ReadEnvFile(filepath.Join(n.Root, "etc/etcd/etcd.conf"))
		if err != nil {
			b.Fatal(err)
		}
		envs[i] = append(env, "ETCD_LOG_OUTPUTS="+filepath.Join(b.TempDir(), "etcd.log"))
		startEtcd(i)
	}
	for i := range c.Nodes {
		ready(i)
	}
	p := startPutProbe(b, c)
	defer p.halt()
	time.Sleep(time.Second)
	var gaps time.Duration
	for i := range c.Nodes {
		from := time.Now()
		if err := procs[i].Signal(syscall.SIGTERM); err != nil {
			b.Fatal(err)
		}
		<-procs[i].Exited()
		startEtcd(i)
		ready(i)
		time.Sleep(500 * time.Millisecond)
		gaps += p.longestGap(from, time.Now())
	}
	if err := c.Lab.Close(); err != nil {
		b.Fatal(err)
	}
	return gaps / 3
}
