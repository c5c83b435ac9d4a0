package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/backupstore"
)

// TestQuorumLossRecoversFromTheSurvivor: as TestQuorumLossRecoversByOneCommand,
// but the group holds keys written after its last backup, which only the
// survivor still has once two of three members are destroyed. etcdboot
// recover --from-member refuses while a quorum answers, with --from too,
// and for a member that is gone; given the survivor, it takes its snapshot
// (etcd gives one without a quorum), uploads it as a backup that backup
// list shows as the survivor's, and requests a recovery from it. The group
// comes back to three voters with every key, those after the backup too.
func TestQuorumLossRecoversFromTheSurvivor(t *testing.T) {
	target := "file://" + t.TempDir()
	c := recoveryGroup(t, target, false)
	startHealthy(t, c)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, cli, "/quorum/", 1000)
	cli.Close()
	backupRound(t, c)
	cli, err = c.Client()
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, cli, "/after-backup/", 200)
	cli.Close()
	survivor := c.Nodes[0]
	waitServes(t, c, survivor, "/after-backup/", 200)

	recoverCmd := func(args ...string) (string, error) {
		out, err := exec.Command(filepath.Join(c.Opts.Bin, "etcdboot"), append([]string{"recover", "-f", c.Opts.SpecPath, "--pki", filepath.Join(c.Out, "pki")}, args...)...).CombinedOutput()
		return string(out), err
	}
	for _, tc := range []struct {
		what string
		args []string
		says string
	}{
		{"a quorum answers", []string{"--from-member", survivor.Name}, "a quorum of the cluster answers"},
		{"both sources", []string{"--from", "latest", "--from-member", survivor.Name}, "not both"},
	} {
		if out, err := recoverCmd(tc.args...); err == nil || !strings.Contains(out, tc.says) {
			t.Fatalf("recover when %s: %v\n%s", tc.what, err, out)
		}
	}
	lost := slices.Clone(c.Nodes[1:])
	for _, n := range lost {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
		c.Remove(n)
	}
	if out, err := recoverCmd("--from-member", lost[0].Name); err == nil || !strings.Contains(out, "the member does not answer") {
		t.Fatalf("recover from a lost member: %v\n%s", err, out)
	}
	out, err := recoverCmd("--from-member", survivor.Name)
	if err != nil {
		t.Fatalf("recover --from-member %s: %v\n%s", survivor.Name, err, out)
	}
	t.Logf("%s", out)

	listed, err := exec.Command(filepath.Join(c.Opts.Bin, "etcdboot"), "backup", "list", "--target", target, "-w", "json").Output()
	if err != nil {
		t.Fatalf("backup list: %v", err)
	}
	var l backupstore.Listing
	if err := json.Unmarshal(listed, &l); err != nil {
		t.Fatalf("backup list: %v\n%s", err, listed)
	}
	if len(l.Backups) != 2 || l.Backups[0].Member != survivor.Name || l.Backups[0].Source != backupstore.SourceSurvivor || l.Backups[0].TotalKeys < 1200 {
		t.Fatalf("backup list %s: want the survivor's backup with 1200 keys or more, newest", listed)
	}
	fromSurvivor := l.Backups[0].Name

	if err := survivor.Kill(); err != nil { // the reboot
		t.Fatal(err)
	}
	if err := survivor.StartAgent(); err != nil {
		t.Fatal(err)
	}
	for _, h := range []int{12, 13} {
		n, err := c.AddNode(h)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.StartAgent(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitHealthy(3 * time.Minute); err != nil {
		t.Fatal(err)
	}
	for prefix, want := range map[string]int64{"/quorum/": 1000, "/after-backup/": 200} {
		if n, _ := countKeys(t, c, prefix); n != want {
			t.Errorf("after the recovery: %d keys under %s, want %d", n, prefix, want)
		}
	}
	for _, n := range c.Nodes {
		st, _ := n.Journal()
		if st.Plan == nil || st.Plan.Recover == nil || st.Plan.Recover.Backup != fromSurvivor {
			t.Errorf("%s: plan %+v: want a restore from the survivor's backup %s", n.Name, st.Plan, fromSurvivor)
		}
	}
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-13")
}

// waitServes waits until member n itself (a serializable read) holds want
// keys under prefix: a write the cluster acknowledged may reach a follower
// a moment later.
func waitServes(t *testing.T, c *testcluster.Cluster, n *testcluster.Node, prefix string, want int64) {
	t.Helper()
	cli, err := c.Client(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
		cancel()
		if err == nil && resp.Count == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %v keys under %s (%v), want %d", n.Name, resp, prefix, err, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
