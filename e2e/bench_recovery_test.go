package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob"
	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// Size of the keyspace the lost cluster held.
const (
	benchRecoveryKeys      = 20000
	benchRecoveryValueSize = 512
)

// BenchmarkTotalLossRecovery compares, in the same run, how long a group
// that lost every member and every disk takes to be ready again (/readyz on
// every member) with its old keyspace: booted fresh with recovery.fromBackup
// auto, the agents find no member, pick the newest verified backup in the
// target, check it, restore it and form; against the bare procedure an
// operator would run on the same three nodes: download the object with the
// same library (gocloud.dev/blob), `etcdutl snapshot restore` on each member
// and bare etcd started on the restored data dir with the very settings the
// agents wrote, all three members in parallel as the agents are.
func BenchmarkTotalLossRecovery(b *testing.B) {
	bin := binDir(b)
	etcdutl := etcdtest.Binary(b, "etcdutl")
	// Page the binaries in first: whichever side ran first would pay for it.
	for _, argv := range [][]string{{filepath.Join(bin, "etcd"), "--version"}, {etcdutl, "version"}, {filepath.Join(bin, "etcdboot-agent"), "version"}} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v: %s", argv, err, out)
		}
	}
	var agentTotal, bareTotal time.Duration
	var size int64
	for i := 0; i < b.N; i++ {
		agent, bare, n := timeTotalLossRecovery(b, etcdutl)
		agentTotal, bareTotal, size = agentTotal+agent, bareTotal+bare, n
	}
	agent, bare := agentTotal/time.Duration(b.N), bareTotal/time.Duration(b.N)
	b.ReportMetric(float64(agent.Milliseconds()), "agent-ms")
	b.ReportMetric(float64(bare.Milliseconds()), "bare-ms")
	b.ReportMetric(float64(agent)/float64(bare), "agent/bare")
	fmt.Printf("total loss to ready, 3 members, %d keys (%.1f MB backup): agent %v, bare download+etcdutl restore+etcd %v, ratio %.2f\n",
		benchRecoveryKeys, float64(size)/1e6, agent, bare, float64(agent)/float64(bare))
}

// timeTotalLossRecovery builds a group, fills and backs it up, loses it,
// and times its recovery by the agents, then, on the same nodes once more
// wiped, by the bare procedure. It returns both and the backup's size.
func timeTotalLossRecovery(b *testing.B, etcdutl string) (agent, bare time.Duration, size int64) {
	target := "file://" + b.TempDir()
	c := recoveryGroup(b, target, true)
	if err := c.StartAll(); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		b.Fatal(err)
	}
	cli, err := c.Client()
	if err != nil {
		b.Fatal(err)
	}
	etcdtest.PutKeys(b, cli, benchRecoveryKeys, benchRecoveryValueSize)
	cli.Close()
	backupRound(b, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	store, err := backupstore.Open(ctx, target)
	if err != nil {
		b.Fatal(err)
	}
	l, err := store.List(ctx, "rec")
	store.Close()
	if err != nil || len(l.Verified()) != 1 {
		b.Fatalf("backups: %+v, %v", l, err)
	}
	backup := l.Verified()[0]
	// Both sides read the object through the page cache.
	if err := downloadObject(ctx, target, backup.Object, io.Discard); err != nil {
		b.Fatal(err)
	}

	for _, old := range slices.Clone(c.Nodes) {
		if err := old.KillWithEtcd(); err != nil {
			b.Fatal(err)
		}
		c.Remove(old)
	}
	for _, h := range []int{11, 12, 13} {
		if _, err := c.AddNode(h); err != nil { // a fresh root: the disk went with the instance
			b.Fatal(err)
		}
	}
	tlsConf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	waitAllReady := func() {
		if err := pollReady(ctx, c.Nodes, tlsConf, 3*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	for _, n := range c.Nodes {
		if err := n.StartAgent(); err != nil {
			b.Fatal(err)
		}
	}
	waitAllReady()
	agent = time.Since(start)
	if err := c.WaitHealthy(time.Minute); err != nil {
		b.Fatal(err)
	}
	if n, _ := countKeys(b, c, "/etcdtest/"); n != benchRecoveryKeys {
		b.Fatalf("the agents recovered %d keys, want %d", n, benchRecoveryKeys)
	}
	for _, n := range c.Nodes {
		st, _ := n.Journal()
		if st.Plan == nil || st.Plan.Recover == nil || st.Plan.Recover.Backup != backup.Name {
			b.Fatalf("%s did not recover from %s: plan %+v", n.Name, backup.Name, st.Plan)
		}
		// Where the agent's time went: each step's end after the boot.
		var steps []string
		for _, r := range st.Done {
			steps = append(steps, fmt.Sprintf("%s +%v", r.Step, r.At.Sub(start).Round(time.Millisecond)))
		}
		b.Logf("%s: %s", n.Name, strings.Join(steps, ", "))
	}

	// The same nodes, settings and certificates; every member and data dir
	// lost again.
	configs := map[*testcluster.Node]bareMember{}
	for _, n := range c.Nodes {
		m := readBareMember(b, n)
		if err := n.KillWithEtcd(); err != nil {
			b.Fatal(err)
		}
		if err := os.RemoveAll(m.DataDir); err != nil {
			b.Fatal(err)
		}
		configs[n] = m
	}
	start = time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(c.Nodes))
	for i, n := range c.Nodes {
		wg.Go(func() { errs[i] = bareRecover(ctx, c, n, configs[n], target, backup.Object, etcdutl) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	waitAllReady()
	bare = time.Since(start)
	if n, _ := countKeys(b, c, "/etcdtest/"); n != benchRecoveryKeys {
		b.Fatalf("the bare procedure recovered %d keys, want %d", n, benchRecoveryKeys)
	}
	if err := c.Lab.Close(); err != nil { // the next group needs the lab's prefix
		b.Fatal(err)
	}
	return agent, bare, backup.Size
}

// bareMember is what the restore needs of the settings the agent wrote.
type bareMember struct {
	ConfigFile          string `yaml:"-"`
	Name                string `yaml:"name"`
	DataDir             string `yaml:"data-dir"`
	InitialCluster      string `yaml:"initial-cluster"`
	InitialClusterToken string `yaml:"initial-cluster-token"`
	AdvertisePeerURLs   string `yaml:"initial-advertise-peer-urls"`
}

func readBareMember(b *testing.B, n *testcluster.Node) bareMember {
	p := filepath.Join(n.Root, "etc/etcd/etcd.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	var m bareMember
	if err := yaml.Unmarshal(data, &m); err != nil {
		b.Fatalf("%s: %v", p, err)
	}
	if m.Name == "" || m.DataDir == "" || m.InitialCluster == "" || m.AdvertisePeerURLs == "" {
		b.Fatalf("%s: %+v: want a member's name, data dir and initial cluster", p, m)
	}
	m.ConfigFile = p
	return m
}

// bareRecover is the operator's procedure on one member: download the
// backup, restore it with etcdutl, start etcd.
func bareRecover(ctx context.Context, c *testcluster.Cluster, n *testcluster.Node, m bareMember, target, object, etcdutl string) error {
	snap := filepath.Join(filepath.Dir(m.DataDir), "bare-restore.db")
	f, err := os.Create(snap)
	if err != nil {
		return err
	}
	err = downloadObject(ctx, target, object, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: download: %w", n.Name, err)
	}
	out, err := exec.CommandContext(ctx, etcdutl, "snapshot", "restore", snap, "--name", m.Name, "--data-dir", m.DataDir,
		"--initial-cluster", m.InitialCluster, "--initial-cluster-token", m.InitialClusterToken,
		"--initial-advertise-peer-urls", m.AdvertisePeerURLs).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: etcdutl snapshot restore: %w\n%s", n.Name, err, out)
	}
	_, err = n.Host.Start("bare-etcd", []string{filepath.Join(c.Opts.Bin, "etcd"), "--config-file", m.ConfigFile}, nil)
	return err
}

// downloadObject copies object from the bucket at target into w, with the
// library the agents use.
func downloadObject(ctx context.Context, target, object string, w io.Writer) error {
	bucket, err := blob.OpenBucket(ctx, target)
	if err != nil {
		return err
	}
	defer bucket.Close()
	r, err := bucket.NewReader(ctx, object, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(w, r)
	return err
}

// pollReady asks every member's /readyz every 20 ms, all at once, until each
// answers ready: the same grain for both sides of the benchmark, where
// bootstrap.WaitReady backs off to 250 ms and so would charge the side
// that waits longest for its first answer up to that much more.
func pollReady(ctx context.Context, nodes []*testcluster.Node, tlsConf *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true}}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		url := bootstrap.HealthURL(n.ClientURL(), 6)
		wg.Go(func() {
			for {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					errs[i] = err
					return
				}
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						return
					}
				}
				select {
				case <-ctx.Done():
					errs[i] = fmt.Errorf("%s not ready: %w", url, ctx.Err())
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
