package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/s3test"
	"github.com/etcdboot/etcdboot/spec"
)

// recoveryKeys is how many keys the lost cluster held.
const recoveryKeys = 20000

// recoveryGroup generates a group of three seeds whose backups go to a
// file:// target and which recovers from them after a total loss.
func recoveryGroup(t testing.TB, target string, auto bool) *testcluster.Cluster {
	t.Helper()
	work := t.TempDir()
	specPath := filepath.Join(work, "cluster.yaml")
	clusterSpec := fmt.Sprintf(`apiVersion: etcdboot/v1
name: rec
etcd: {version: %s}
autoscaling:
  size: 3
  subnets: [10.123.0.0/24]
  domain: etcd.e2e.internal
  namePrefix: etcd-
  seeds: [10.123.0.11, 10.123.0.12, 10.123.0.13]
firewall:
  clientCIDRs: [10.123.0.0/25]
backup:
  interval: 1m
  retention: 5
  target: '%s'
recovery:
  fromBackup: %s
`, spec.DefaultEtcdVersion, target, map[bool]string{true: spec.RecoveryAuto, false: spec.RecoveryNever}[auto])
	if err := os.WriteFile(specPath, []byte(clusterSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, testcluster.Options{SpecPath: specPath, WorkDir: work})
	for _, h := range []int{11, 12, 13} {
		if _, err := c.AddNode(h); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// backupRound runs one backup round on every member (the leader writes).
func backupRound(t testing.TB, c *testcluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, n := range c.Nodes {
		out, err := n.Host.Run(ctx, filepath.Join(c.Opts.Bin, "etcdboot-agent"), "backup", "--log-level", "info",
			"--payload", n.PayloadPath(), "--root", n.Root, "--state-dir", n.StateDir())
		if err != nil {
			t.Fatalf("%s: backup round: %v\n%s", n.Name, err, out)
		}
	}
}

// loseEverything kills every member and boots a fresh instance with an
// empty disk on each seed address, from the same launch payload.
func loseEverything(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	for _, old := range slices.Clone(c.Nodes) {
		if err := old.Kill(); err != nil {
			t.Fatal(err)
		}
		c.Remove(old)
	}
	for _, h := range []int{11, 12, 13} {
		n, err := c.AddNode(h) // a fresh root: the disk went with the instance
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
}

// countKeys counts the keys under prefix and returns the store's revision.
func countKeys(t testing.TB, c *testcluster.Cluster, prefix string) (int64, int64) {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count, resp.Header.Revision
}

// TestTotalLossRecoversFromTheNewestBackup: a group holding 20,000 keys
// backs up to its target, then loses every member and every disk; a fresh
// group booted from the same launch payload finds no member running and
// forms from the newest verified backup by itself: every key is back, the
// revision is at least the snapshot's, the cluster has a new ID recorded
// in the store. With the newest backup corrupted in the store, every seed
// skips it for the one before it. Against a directory (file://) and a real
// S3 server (SeaweedFS on the lab's bridge address).
func TestTotalLossRecoversFromTheNewestBackup(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		storeDir := t.TempDir()
		target := "file://" + storeDir
		c := recoveryGroup(t, target, true)
		totalLoss(t, c, target, func(m backupstore.Manifest) {
			obj := filepath.Join(storeDir, m.Object)
			data, err := os.ReadFile(obj)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff // same size: only the checks can tell
			if err := os.WriteFile(obj, data, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("s3", func(t *testing.T) {
		port := s3test.FreePort(t, "")
		endpoint := "http://10.123.0.1:" + strconv.Itoa(port)
		target := "s3://etcdboot/etcd/rec?endpoint=" + endpoint + "&region=" + s3test.Region + "&use_path_style=true"
		c := recoveryGroup(t, target, true)
		srv := s3test.Start(t, s3test.Options{IP: c.Lab.HostAddr().String(), S3Port: port})
		srv.SetEnv(t) // the agents inherit it, as a node has its instance role
		totalLoss(t, c, target, func(m backupstore.Manifest) {
			ctx := context.Background()
			key := "etcd/rec/" + m.Object
			obj, err := srv.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// totalLoss runs the total-loss scenario on a group backing up to target;
// corrupt damages one backup's object in the store.
func totalLoss(t *testing.T, c *testcluster.Cluster, target string, corrupt func(backupstore.Manifest)) {
	startHealthy(t, c)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, cli, "/recovery/a/", recoveryKeys)
	cli.Close()
	backupRound(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	store, err := backupstore.Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	l, err := store.List(ctx, "rec")
	if err != nil || len(l.Verified()) != 1 {
		t.Fatalf("backups before the loss: %+v, %v", l, err)
	}
	first := l.Verified()[0]
	var oldID string
	if st, err := c.Nodes[0].Journal(); err == nil {
		oldID = strconv.FormatUint(st.MemberID, 16)
	}

	loseEverything(t, c)
	if n, rev := countKeys(t, c, "/recovery/a/"); n != recoveryKeys || rev < first.Revision {
		t.Fatalf("after the loss: %d keys at revision %d; want %d at %d or later", n, rev, recoveryKeys, first.Revision)
	}
	for _, n := range c.Nodes {
		st, _ := n.Journal()
		if st.Plan == nil || st.Plan.Action != bootstrap.ActionRestore || st.Plan.Recover == nil || st.Plan.Recover.Backup != first.Name {
			t.Fatalf("%s plan %+v: want a restore from %s", n.Name, st.Plan, first.Name)
		}
		if strconv.FormatUint(st.MemberID, 16) == oldID {
			t.Errorf("%s kept the lost cluster's member ID %s", n.Name, oldID)
		}
	}
	rec, err := store.ReadObject(ctx, "recoveries/"+first.Name+".json")
	if err != nil {
		t.Fatalf("no recovery record in the store: %v", err)
	}
	t.Logf("recovery record: %s", rec)

	// A second backup, then corrupt it in the store: the next total loss
	// forms from the first, and says so.
	cli, err = c.Client()
	if err != nil {
		t.Fatal(err)
	}
	writeKeys(t, cli, "/recovery/b/", 100)
	cli.Close()
	backupRound(t, c)
	if l, err = store.List(ctx, "rec"); err != nil || len(l.Verified()) != 2 {
		t.Fatalf("backups: %+v, %v", l, err)
	}
	newest := l.Verified()[0]
	corrupt(newest)
	loseEverything(t, c)
	if n, _ := countKeys(t, c, "/recovery/a/"); n != recoveryKeys {
		t.Fatalf("after the second loss: %d keys, want %d", n, recoveryKeys)
	}
	if n, _ := countKeys(t, c, "/recovery/b/"); n != 0 {
		t.Errorf("keys of the corrupt backup are present: %d", n)
	}
	for _, n := range c.Nodes {
		st, _ := n.Journal()
		if st.Plan == nil || st.Plan.Recover == nil || st.Plan.Recover.Backup != first.Name || !slices.Contains(st.Plan.Recover.Skipped, newest.Name) {
			t.Fatalf("%s plan %+v: want a restore from %s, %s skipped", n.Name, st.Plan, first.Name, newest.Name)
		}
	}
}

// TestQuorumLossRecoversByOneCommand: a group loses two of its three
// members. etcdboot recover refuses while a quorum answers; once it does
// not, it writes a recovery request naming the newest backup. The survivor
// is not rebooted: its watcher finds no quorum and the request, stops etcd
// and runs the boot steps again, which move the data dir aside and restore
// that backup; two new instances on the lost seeds' addresses do the same,
// and the group is back to three voters with the backup's keys.
func TestQuorumLossRecoversByOneCommand(t *testing.T) {
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
	recoverCmd := func() ([]byte, error) {
		return exec.Command(filepath.Join(c.Opts.Bin, "etcdboot"), "recover", "-f", c.Opts.SpecPath, "--pki", filepath.Join(c.Out, "pki"), "--from", "latest").CombinedOutput()
	}
	if out, err := recoverCmd(); err == nil || !strings.Contains(string(out), "a quorum of the cluster answers") {
		t.Fatalf("recover with a healthy quorum: %v\n%s", err, out)
	}
	survivor := c.Nodes[0]
	for _, n := range slices.Clone(c.Nodes[1:]) {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
		c.Remove(n)
	}
	out, err := recoverCmd()
	if err != nil {
		t.Fatalf("recover: %v\n%s", err, out)
	}
	t.Logf("%s", out)
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
	// The new instances form with two of three; the survivor's watcher
	// acts once reads have failed for bootstrap.RequestGrace.
	deadline := time.Now().Add(2 * time.Minute)
	for st, _ := survivor.Journal(); st.AppliedRecoveryRequest == ""; st, _ = survivor.Journal() {
		if time.Now().After(deadline) {
			t.Fatalf("the survivor's watcher did not act on the request: plan %+v", st.Plan)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := c.WaitHealthy(3 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, _ := countKeys(t, c, "/quorum/"); n != 1000 {
		t.Fatalf("after the recovery: %d keys, want 1000", n)
	}
	st, _ := survivor.Journal()
	if st.Plan == nil || st.Plan.Recover == nil || st.Plan.Recover.Request == "" || len(st.MovedAside) != 1 {
		t.Fatalf("survivor: plan %+v, moved aside %v: want a restore for the request with its data dir moved aside", st.Plan, st.MovedAside)
	}
	if _, err := os.Stat(st.MovedAside[0]); err != nil {
		t.Errorf("the survivor's old data dir is gone: %v", err)
	}
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-13")
}

// TestARecoveryRequestInAPartitionMakesNoSecondCluster: a request stands
// (written to the store as an operator would during a partition) while one
// member is cut off from the other two by nftables and reboots. It sees no
// quorum and acts on the request, but a restored member alone is no
// cluster: it never serves. The majority never saw the request as theirs to
// act on, keeps serving under its cluster ID, and after the partition heals
// that is still the only cluster ID any member serves.
func TestARecoveryRequestInAPartitionMakesNoSecondCluster(t *testing.T) {
	target := "file://" + t.TempDir()
	c := recoveryGroup(t, target, false)
	startHealthy(t, c)
	backupRound(t, c)
	clusterID := members(t, c, c.Nodes[0]).Header.ClusterId
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	store, err := backupstore.Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	l, err := store.List(ctx, "rec")
	if err != nil || len(l.Verified()) == 0 {
		t.Fatalf("backups: %+v, %v", l, err)
	}
	if err := store.WriteRecoveryRequest(ctx, backupstore.RecoveryRequest{Cluster: "rec", Backup: l.Verified()[0].Name, At: time.Now().UTC(), Nonce: "partition"}); err != nil {
		t.Fatal(err)
	}
	minority, majority := c.Nodes[2], c.Nodes[:2]
	for _, m := range majority {
		if err := minority.Host.Block(m.Addr); err != nil {
			t.Fatal(err)
		}
	}
	if err := minority.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := minority.StartAgent(); err != nil {
		t.Fatal(err)
	}
	// The minority restores the requested backup; alone it cannot form.
	deadline := time.Now().Add(time.Minute)
	for {
		st, _ := minority.Journal()
		if st.AppliedRecoveryRequest == "partition" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cut-off member did not act on the request: %+v", st.Plan)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		if err := c.Put(ctx, majority[i%2].ClientURL(), "/partition/"+strconv.Itoa(i), "v"); err != nil {
			t.Fatalf("the majority stopped serving: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, m := range majority {
		if got := members(t, c, m).Header.ClusterId; got != clusterID {
			t.Fatalf("%s serves cluster %x, was %x", m.Name, got, clusterID)
		}
	}
	for _, m := range majority {
		if err := minority.Host.Unblock(m.Addr); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Second)
	for _, n := range c.Nodes {
		cli, err := c.Client(n.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		mctx, mcancel := context.WithTimeout(ctx, 3*time.Second)
		ml, err := cli.MemberList(mctx)
		mcancel()
		cli.Close()
		if err == nil && ml.Header.ClusterId != clusterID {
			t.Errorf("%s serves a second cluster %x beside %x", n.Name, ml.Header.ClusterId, clusterID)
		}
		if n != minority && err != nil {
			t.Errorf("%s does not serve after the partition healed: %v", n.Name, err)
		}
	}
}
