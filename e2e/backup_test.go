package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap/backup"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/images"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/internal/snapshot"
	"github.com/etcdboot/etcdboot/spec"
)

// backupRounds and backupRetention: more rounds than snapshots kept, so
// retention has to prune.
const (
	backupRounds    = 4
	backupRetention = 2
	backupKeys      = 1000
)

// TestScheduledBackupsOnlyTheLeaderWritesAndRetentionPrunes runs the backup
// timer's logic on every member of a real 3-member cluster, as the timer
// would start it on each node at once, in exec mode with a 1s interval: only
// the leader writes, retention prunes to the newest two, each kept snapshot
// verifies, every round's trial restore matches, the upload command receives
// every snapshot, and the agents' metrics show the leader's successes.
func TestScheduledBackupsOnlyTheLeaderWritesAndRetentionPrunes(t *testing.T) {
	uploads := t.TempDir()
	work := t.TempDir()
	specPath := filepath.Join(work, "cluster.yaml")
	clusterSpec := fmt.Sprintf(`apiVersion: etcdboot/v1
name: bk
etcd: {version: %s}
members:
  - {name: etcd1, ips: [10.123.0.11]}
  - {name: etcd2, ips: [10.123.0.12]}
  - {name: etcd3, ips: [10.123.0.13]}
firewall:
  clientCIDRs: [10.123.0.0/25]
  monitoringCIDRs: [10.123.0.0/25]
backup:
  interval: 1m
  retention: %d
  upload: [/bin/sh, -c, 'cp "$ETCDBOOT_BACKUP_FILE" %s/ && echo "$ETCDBOOT_BACKUP_SHA256" >> %s/sums']
  testRestore: true
`, spec.DefaultEtcdVersion, backupRetention, uploads, uploads)
	if err := os.WriteFile(specPath, []byte(clusterSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, testcluster.Options{SpecPath: specPath, WorkDir: work})
	// The generator gave every node the timer's interval.
	for _, n := range c.Nodes {
		dropIn, err := os.ReadFile(filepath.Join(n.Root, images.BackupTimerDropInPath))
		if err != nil || !strings.Contains(string(dropIn), "OnUnitActiveSec=1min\n") {
			t.Fatalf("%s: timer drop-in %q, %v", n.Name, dropIn, err)
		}
	}
	startHealthy(t, c)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	writeKeys(t, cli, "/backup/", backupKeys)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leaderName := func() string {
		t.Helper()
		st, err := cli.Status(ctx, c.Nodes[0].ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		ml, err := cli.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ml.Members {
			if m.ID == st.Leader {
				return m.Name
			}
		}
		t.Fatalf("leader %x is not in the member list", st.Leader)
		return ""
	}
	leader := leaderName()

	// Every member runs the rounds at the same time, as each node's timer would.
	var wg sync.WaitGroup
	outs := make([][]byte, len(c.Nodes))
	errs := make([]error, len(c.Nodes))
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = n.Host.Run(ctx, filepath.Join(c.Opts.Bin, "etcdboot-agent"), "backup", "--log-level", "info",
				"--payload", n.PayloadPath(), "--root", n.Root, "--state-dir", n.StateDir(),
				"--every", "1s", "--rounds", strconv.Itoa(backupRounds))
		}()
	}
	wg.Wait()
	for i, n := range c.Nodes {
		if errs[i] != nil {
			t.Fatalf("%s: backup rounds: %v\n%s", n.Name, errs[i], outs[i])
		}
	}
	if now := leaderName(); now != leader {
		t.Fatalf("leadership moved from %s to %s during the rounds; the test cannot tell who should have written", leader, now)
	}

	snapPattern := regexp.MustCompile(`^bk-\d{8}T\d{6}\.\d{3}Z\.db$`)
	for _, n := range c.Nodes {
		st, err := backup.ReadState(n.StateDir())
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(n.Root, spec.DefaultBackupDir)
		entries, _ := os.ReadDir(dir)
		if n.Name != leader {
			if st.Skipped != backupRounds || st.OK != 0 || st.Failed != 0 || st.Last == nil || !strings.Contains(st.Last.Reason, "is not the leader ("+leader+" is)") {
				t.Errorf("%s (follower): state %+v, last %+v", n.Name, st, st.Last)
			}
			if len(entries) != 0 {
				t.Errorf("%s (follower) wrote into %s: %v", n.Name, dir, entries)
			}
			continue
		}
		if st.OK != backupRounds || st.Failed != 0 || st.Skipped != 0 || st.Last == nil {
			t.Fatalf("%s (leader): state %+v", n.Name, st)
		}
		if tr := st.Last.TrialRestore; tr == nil || !tr.Match || tr.TotalKeys < backupKeys || tr.Revision != st.Last.Revision {
			t.Errorf("%s: trial restore %+v of a snapshot at revision %d", n.Name, tr, st.Last.Revision)
		}
		var snaps []string
		for _, e := range entries {
			switch name := e.Name(); {
			case snapPattern.MatchString(name):
				snaps = append(snaps, name)
			case strings.HasSuffix(name, ".db.sha256") && snapPattern.MatchString(strings.TrimSuffix(name, ".sha256")):
			default:
				t.Errorf("%s: unexpected file %s in %s (a temporary or scratch file left behind?)", n.Name, name, dir)
			}
		}
		if len(snaps) != backupRetention || len(entries) != 2*backupRetention {
			t.Fatalf("%s: %s holds %v; want the newest %d snapshots and their .sha256", n.Name, dir, entries, backupRetention)
		}
		for _, s := range snaps {
			p := filepath.Join(dir, s)
			info, err := snapshot.Status(p)
			if err != nil || info.TotalKeys < backupKeys {
				t.Errorf("%s: %+v, %v", s, info, err)
				continue
			}
			sum, err := os.ReadFile(p + ".sha256")
			if err != nil || string(sum) != info.SHA256+"  "+s+"\n" {
				t.Errorf("%s.sha256 = %q, %v; the file's sha256 is %s", s, sum, err, info.SHA256)
			}
		}
		if st.LastSnapshot != filepath.Join(dir, snaps[len(snaps)-1]) {
			t.Errorf("state's last snapshot %s, newest on disk %s", st.LastSnapshot, snaps[len(snaps)-1])
		}
	}

	// The upload command received every round's snapshot, pruned or not.
	received, _ := filepath.Glob(filepath.Join(uploads, "bk-*.db"))
	sums, _ := os.ReadFile(filepath.Join(uploads, "sums"))
	if len(received) != backupRounds || strings.Count(string(sums), "\n") != backupRounds {
		t.Errorf("upload command received %v and sums\n%s; want %d of each", received, sums, backupRounds)
	}
	for _, p := range received {
		if _, err := snapshot.Status(p); err != nil {
			t.Errorf("uploaded copy: %v", err)
		}
	}

	// The agents' metrics (etcdboot-agent up --exec serves them) show the
	// leader's successes; followers export no backup age of their own.
	tlsConf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	okLine := fmt.Sprintf(`%s{result="%s"} %d`, monitoring.MetricBackups, monitoring.BackupOK, backupRounds)
	for _, n := range c.Nodes {
		var body string
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := hc.Get("https://" + n.Addr.String() + ":2382/metrics")
			if err != nil {
				t.Fatalf("agent metrics of %s: %v", n.Name, err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(data)
			if n.Name != leader || strings.Contains(body, okLine) || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		failedLine := fmt.Sprintf(`%s{result="%s"} 0`, monitoring.MetricBackups, monitoring.BackupFailed)
		hasAge := strings.Contains(body, "\n"+monitoring.MetricBackupLastSuccess+" ")
		switch {
		case !strings.Contains(body, failedLine):
			t.Errorf("%s: metrics lack %s:\n%s", n.Name, failedLine, body)
		case n.Name == leader && (!strings.Contains(body, okLine) || !hasAge):
			t.Errorf("%s (leader): metrics lack %s or the last-success gauge:\n%s", n.Name, okLine, body)
		case n.Name != leader && hasAge:
			t.Errorf("%s (follower): a skipped round exported a last success:\n%s", n.Name, body)
		}
	}
}
