package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/bootstrap/maintenance"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/images"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/spec"
)

// maintenanceCluster generates and starts a 3-member cluster whose spec
// has the given etcd and maintenance sections (flow mappings).
func maintenanceCluster(t *testing.T, name, etcd, maint string) *testcluster.Cluster {
	t.Helper()
	work := t.TempDir()
	specPath := filepath.Join(work, "cluster.yaml")
	clusterSpec := fmt.Sprintf(`apiVersion: etcdboot/v1
name: %s
etcd: %s
members:
  - {name: etcd1, ips: [10.123.0.11]}
  - {name: etcd2, ips: [10.123.0.12]}
  - {name: etcd3, ips: [10.123.0.13]}
firewall:
  clientCIDRs: [10.123.0.0/25]
  monitoringCIDRs: [10.123.0.0/25]
maintenance: %s
`, name, etcd, maint)
	if err := os.WriteFile(specPath, []byte(clusterSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, testcluster.Options{SpecPath: specPath, WorkDir: work})
	for _, n := range c.Nodes {
		dropIn, err := os.ReadFile(filepath.Join(n.Root, images.MaintenanceTimerDropInPath))
		if err != nil || !strings.Contains(string(dropIn), "OnUnitActiveSec=") {
			t.Fatalf("%s: maintenance timer drop-in %q, %v", n.Name, dropIn, err)
		}
	}
	startHealthy(t, c)
	return c
}

// retryWriter puts a key every 20ms through every endpoint until stop, retrying
// a failed put once, as a careful client does; it counts the puts that
// succeeded and those that failed twice.
type retryWriter struct {
	ok, lost atomic.Int64
	mu       sync.Mutex
	errs     []string
	stop     chan struct{}
	done     chan struct{}
}

func startRetryWriter(t *testing.T, c *testcluster.Cluster) *retryWriter {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	w := &retryWriter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer cli.Close()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var err error
			for try := 0; try < 2; try++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err = cli.Put(ctx, "/writer/key", fmt.Sprint(i))
				cancel()
				if err == nil {
					break
				}
			}
			if err != nil {
				w.lost.Add(1)
				w.mu.Lock()
				w.errs = append(w.errs, err.Error())
				w.mu.Unlock()
				continue
			}
			w.ok.Add(1)
		}
	}()
	return w
}

func (w *retryWriter) finish() {
	close(w.stop)
	<-w.done
}

// memberDBSizes asks every member for its database file's size, by name.
func memberDBSizes(t *testing.T, c *testcluster.Cluster, cli *clientv3.Client) (map[string]int64, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sizes, leader := map[string]int64{}, ""
	for _, n := range c.Nodes {
		st, err := cli.Status(ctx, n.ClientURL())
		if err != nil {
			t.Fatalf("status of %s: %v", n.Name, err)
		}
		sizes[n.Name] = st.DbSize
		if st.Leader == st.Header.MemberId {
			leader = n.Name
		}
	}
	return sizes, leader
}

// scrapeAgent reads a node's agent metrics as Prometheus scrapes them.
func scrapeAgent(t *testing.T, c *testcluster.Cluster, n *testcluster.Node) string {
	t.Helper()
	tlsConf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	resp, err := hc.Get("https://" + n.Addr.String() + ":2382/metrics")
	if err != nil {
		t.Fatalf("agent metrics of %s: %v", n.Name, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

// TestDefragNowFollowersFirstLeaderLastUnderWrites fragments a real
// 3-member cluster and runs `etcdboot-agent defrag --now` on one node while
// a client writes: the followers are defragmented first and one at a time,
// the leader last after leadership moved away, every database shrinks, no
// put fails twice in a row, and the node's agent exports the round.
func TestDefragNowFollowersFirstLeaderLastUnderWrites(t *testing.T) {
	c := maintenanceCluster(t, "mt", "{}", "{interval: 1h, fragmentation: {freeRatio: 0.3, minFreeBytes: 1MiB}, window: {start: \"03:00\", duration: 1h}}")
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// Fragment: write 8MB, delete it and compact; the files keep their size.
	writeKeys(t, cli, "/churn/", 2000)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	big := strings.Repeat("v", 4096)
	for i := 0; i < 2000; i += 100 {
		var ops []clientv3.Op
		for j := i; j < i+100; j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("/churn/%05d", j), big))
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	del, err := cli.Delete(ctx, "/churn/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, del.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	before, leader := memberDBSizes(t, c, cli)

	w := startRetryWriter(t, c)
	time.Sleep(time.Second) // the writer is in its stride
	n := c.Nodes[0]
	out, err := n.Host.Run(ctx, filepath.Join(c.Opts.Bin, "etcdboot-agent"), "defrag", "--now", "--log-level", "info",
		"--payload", n.PayloadPath(), "--root", n.Root, "--state-dir", n.StateDir())
	time.Sleep(time.Second)
	w.finish()
	if err != nil {
		t.Fatalf("defrag --now: %v\n%s", err, out)
	}
	t.Logf("defrag --now on %s:\n%s", n.Name, out)
	if lost := w.lost.Load(); lost > 0 || w.ok.Load() < 20 {
		t.Errorf("writer: %d puts, %d failed after a retry: %v", w.ok.Load(), lost, w.errs)
	}

	st, err := maintenance.ReadState(n.StateDir())
	if err != nil || st.Last == nil {
		t.Fatalf("state %+v, %v", st, err)
	}
	r := st.Last
	if r.Kind != maintenance.KindDefrag || r.Result != maintenance.ResultOK || r.Trigger != maintenance.TriggerManual || r.Lock != "held" || len(r.Members) != 3 {
		t.Fatalf("round %+v", r)
	}
	var order []string
	for _, m := range r.Members {
		order = append(order, m.Name)
	}
	var want []string
	for _, m := range c.Nodes {
		if m.Name != leader {
			want = append(want, m.Name)
		}
	}
	want = append(want, leader)
	if !slices.Equal(order, want) {
		t.Errorf("defragmented %v; want the followers first, by name, and the leader %s last: %v", order, leader, want)
	}
	for i, m := range r.Members {
		if i > 0 && m.Started.Before(r.Members[i-1].Started.Add(r.Members[i-1].Took)) {
			t.Errorf("%s began before %s answered again: not one at a time", m.Name, r.Members[i-1].Name)
		}
		if (i == 2) != (m.MovedLeaderTo != "") {
			t.Errorf("%s: leadership moved to %q", m.Name, m.MovedLeaderTo)
		}
	}
	after, newLeader := memberDBSizes(t, c, cli)
	for name, size := range after {
		if size*2 > before[name] {
			t.Errorf("%s: database %d bytes after, %d before; want it at least halved", name, size, before[name])
		}
	}
	if newLeader == leader {
		t.Errorf("%s still leads", leader)
	}
	if !strings.Contains(string(out), "defrag round done") || !strings.Contains(string(out), "leadership moved to") {
		t.Errorf("defrag --now printed:\n%s", out)
	}

	// The node's watcher exports the round from the state file.
	okLine := fmt.Sprintf(`%s{kind="defrag",result="ok"} 1`, monitoring.MetricMaintenanceRounds)
	deadline := time.Now().Add(15 * time.Second)
	for body := scrapeAgent(t, c, n); !strings.Contains(body, okLine) || !strings.Contains(body, monitoring.MetricEtcdAlarm+`{alarm="NOSPACE"} 0`); body = scrapeAgent(t, c, n) {
		if time.Now().After(deadline) {
			t.Fatalf("agent metrics of %s lack %s or the alarm gauge:\n%s", n.Name, okLine, body)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// A timer's round outside its window (03:00-04:00 UTC) does nothing.
	if h := time.Now().UTC().Hour(); h != 3 {
		out, err = n.Host.Run(ctx, filepath.Join(c.Opts.Bin, "etcdboot-agent"), "defrag",
			"--payload", n.PayloadPath(), "--root", n.Root, "--state-dir", n.StateDir())
		st, _ = maintenance.ReadState(n.StateDir())
		if err != nil || st.Last.Result != maintenance.ResultSkipped || !strings.HasPrefix(st.Last.Reason, "outside the maintenance window") {
			t.Errorf("timer round: %v\n%s\n%+v", err, out, st.Last)
		}
	}
}

// TestNoSpaceIsHealedWithoutAnOperator fills a real cluster's 8MiB quota
// until etcd raises NOSPACE and refuses writes; the agents' watchers
// notice, one of them compacts, defragments every member and disarms, and
// writes succeed again with no operator step.
func TestNoSpaceIsHealedWithoutAnOperator(t *testing.T) {
	c := maintenanceCluster(t, "ns", "{quotaBackendBytes: 8MiB}", "{fragmentation: {minFreeBytes: 1MiB}, spaceAlarm: {retention: 100}}")
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	value := strings.Repeat("x", 10<<10)
	for i := 0; ; i++ {
		_, err := cli.Put(ctx, fmt.Sprintf("/fill/%d", i%8), value)
		if errors.Is(err, rpctypes.ErrNoSpace) {
			break
		}
		if err != nil || i > 20000 {
			t.Fatalf("filling the quota: put %d: %v", i, err)
		}
	}
	raised := time.Now()
	var healedAt time.Time
	for healedAt.IsZero() {
		if time.Since(raised) > 90*time.Second {
			t.Fatal("NOSPACE still raised 90s after the quota was hit")
		}
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cli.Put(pctx, "/after-heal", "works")
		pcancel()
		if err == nil {
			healedAt = time.Now()
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("writes work again %v after NOSPACE was raised", healedAt.Sub(raised).Round(time.Millisecond))
	alarms, err := cli.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) != 0 {
		t.Fatalf("alarms after the heal: %+v, %v", alarms, err)
	}
	// The healer records its round once it has disarmed, so writes may
	// work a moment before its state file says so.
	var healers []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		healers = healersOf(t, c)
		if len(healers) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(healers) != 1 {
		t.Errorf("healed by %v; want exactly one agent", healers)
	}
	sizes, _ := memberDBSizes(t, c, cli)
	for name, size := range sizes {
		if size > 8<<20*9/10 {
			t.Errorf("%s: database %d bytes after the heal, above the quota less the margin", name, size)
		}
	}
	if spec.DefaultSpaceAlarmMargin != 0.1 {
		t.Errorf("the margin this test assumes changed: %v", spec.DefaultSpaceAlarmMargin)
	}
}

// healersOf names the nodes whose state file records a heal, checking that
// each heal was the alarm's, under the healer's right, and complete.
func healersOf(t *testing.T, c *testcluster.Cluster) []string {
	t.Helper()
	var healers []string
	for _, n := range c.Nodes {
		st, err := maintenance.ReadState(n.StateDir())
		if err != nil {
			t.Fatal(err)
		}
		if st.Heal.OK == 0 {
			continue
		}
		healers = append(healers, n.Name)
		r := st.Last
		if r.Kind != maintenance.KindHeal || r.Trigger != maintenance.TriggerAlarm || r.Lock != "healer" || r.Compacted == 0 || !r.Disarmed || len(r.Members) != 3 {
			t.Errorf("%s's heal %+v", n.Name, r)
		}
	}
	return healers
}
