package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap/backup"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/s3test"
	"github.com/etcdboot/etcdboot/spec"
)

// TestScheduledBackupsLandInS3WithManifestsAndRetentionPrunes runs the
// backup timer's rounds on every member of a real 3-member cluster, in exec
// mode, with backup.target a real S3 server (SeaweedFS) listening on the
// lab's own address on the bridge: only the leader uploads, every round's
// snapshot lands as an object, a sha256 and a manifest naming the cluster,
// its ID and the member, retention keeps the newest two in the bucket, the
// newest fetches and passes its checks, the leader's state counts the
// uploads, and `etcdboot backup list` shows the same two.
func TestScheduledBackupsLandInS3WithManifestsAndRetentionPrunes(t *testing.T) {
	work := t.TempDir()
	// The endpoint must be in the spec before the lab (and its address)
	// exists; the port is picked on loopback and taken on the bridge.
	port := s3test.FreePort(t, "")
	endpoint := "http://10.123.0.1:" + strconv.Itoa(port)
	target := "s3://etcdboot/etcd/ob?endpoint=" + endpoint + "&region=" + s3test.Region + "&use_path_style=true"
	specPath := filepath.Join(work, "cluster.yaml")
	clusterSpec := fmt.Sprintf(`apiVersion: etcdboot/v1
name: ob
etcd: {version: %s}
members:
  - {name: etcd1, ips: [10.123.0.11]}
  - {name: etcd2, ips: [10.123.0.12]}
  - {name: etcd3, ips: [10.123.0.13]}
firewall:
  clientCIDRs: [10.123.0.0/25]
backup:
  interval: 1m
  retention: %d
  target: '%s'
  testRestore: true
`, spec.DefaultEtcdVersion, backupRetention, target)
	if err := os.WriteFile(specPath, []byte(clusterSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, testcluster.Options{SpecPath: specPath, WorkDir: work})
	srv := s3test.Start(t, s3test.Options{IP: c.Lab.HostAddr().String(), S3Port: port})
	if srv.Endpoint != endpoint {
		t.Fatalf("the server listens at %s, the spec's target names %s", srv.Endpoint, endpoint)
	}
	// The agents and etcdboot find the key in their environment, as a
	// node finds it in its unit's or from its instance role.
	srv.SetEnv(t)
	startHealthy(t, c)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	writeKeys(t, cli, "/objectstore/", backupKeys)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

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
	writers := map[string]backup.State{}
	for i, n := range c.Nodes {
		if errs[i] != nil {
			t.Fatalf("%s: backup rounds: %v\n%s", n.Name, errs[i], outs[i])
		}
		st, err := backup.ReadState(n.StateDir())
		if err != nil {
			t.Fatal(err)
		}
		if st.OK > 0 {
			writers[n.Name] = st
		}
	}
	if len(writers) != 1 {
		t.Fatalf("members that wrote: %v; want the leader only (leadership may not move during the rounds)", writers)
	}
	var leader string
	for name := range writers {
		leader = name
	}
	st := writers[leader]
	if st.OK != backupRounds || st.Uploads != backupRounds || st.UploadsFailed != 0 || st.Last == nil || st.Last.Upload == nil ||
		!st.Last.Upload.OK || st.Last.Upload.Target != target || len(st.Last.Upload.Pruned) != 1 {
		t.Fatalf("%s (leader): state %+v, last %+v", leader, st, st.Last)
	}

	store, err := backupstore.Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	l, err := store.List(ctx, "ob")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Backups) != backupRetention || len(l.Problems) != 0 || l.Backups[0].Name != st.LastObject {
		t.Fatalf("bucket holds %+v, problems %+v; want the newest %d, %s first", l.Backups, l.Problems, backupRetention, st.LastObject)
	}
	for _, m := range l.Backups {
		if m.Cluster != "ob" || m.ClusterID != st.Last.ClusterID || m.Member != leader || m.TotalKeys != backupKeys ||
			!m.Verified || !m.TestRestored || m.EtcdVersion != strings.TrimPrefix(spec.DefaultEtcdVersion, "v") {
			t.Errorf("manifest %+v (leader %s, cluster ID %s)", m, leader, st.Last.ClusterID)
		}
	}
	if _, info, err := store.Fetch(ctx, l.Backups[0].Name, filepath.Join(t.TempDir(), "newest.db"), backupstore.Expect{Cluster: "ob", ClusterID: st.Last.ClusterID}); err != nil || info.TotalKeys != backupKeys {
		t.Errorf("fetch of the newest: %+v, %v", info, err)
	}

	// What an operator sees.
	out, err := exec.CommandContext(ctx, filepath.Join(c.Opts.Bin, "etcdboot"), "backup", "list", "--target", target, "-w", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("etcdboot backup list: %v\n%s", err, out)
	}
	var listed backupstore.Listing
	if err := json.Unmarshal(out, &listed); err != nil || len(listed.Backups) != backupRetention || listed.Backups[0].Name != l.Backups[0].Name || listed.Backups[1].Name != l.Backups[1].Name {
		t.Errorf("etcdboot backup list -w json: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx, filepath.Join(c.Opts.Bin, "etcdboot"), "backup", "list", "--target", target).CombinedOutput()
	if err != nil || !strings.Contains(string(out), l.Backups[0].Name) || !strings.Contains(string(out), "restored") {
		t.Errorf("etcdboot backup list: %v\n%s", err, out)
	}
}
