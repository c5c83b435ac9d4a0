package image

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
)

// TestImageLaunchGroupFormsAndReplaces boots the image the way an
// autoscaling group launches it: every instance gets the same launch
// payload, three identical boots form one cluster, and a 4th boot after one
// is destroyed replaces it.
func TestImageLaunchGroupFormsAndReplaces(t *testing.T) {
	bin := binDir(t)
	image := imageRoot(t, bin)
	c := newCluster(t, testcluster.Options{GroupSize: 3, Seeds: []int{11, 12, 13}})
	userData, err := os.ReadFile(filepath.Join(c.Result.Launch.Dir, "user-data"))
	if err != nil {
		t.Fatal(err)
	}
	run := fmt.Sprint(time.Now().UnixNano())
	boot := func(host int) bootedMachine {
		t.Helper()
		n, err := c.AddNode(host)
		if err != nil {
			t.Fatal(err)
		}
		m := newMachine(t, image, n)
		// The same user-data for every instance; only the instance ID
		// and hostname come from the (here simulated) cloud.
		if err := m.SeedNoCloud(userData, fmt.Sprintf("i-%d-%s", host, run), fmt.Sprintf("ip-10-123-0-%d", host)); err != nil {
			t.Fatal(err)
		}
		if err := m.Boot(); err != nil {
			t.Fatal(err)
		}
		return bootedMachine{m, n}
	}
	var group []bootedMachine
	for _, host := range []int{11, 12, 13} {
		group = append(group, boot(host))
	}
	for _, bm := range group {
		waitBooted(t, bm.m, 3*time.Minute)
	}
	waitMembers(t, c, []string{"10.123.0.11", "10.123.0.12", "10.123.0.13"}, 2*time.Minute)
	for _, bm := range group {
		checkFirstBoot(t, bm, "")
	}

	// An instance dies with its disk; the group launches a 4th from the
	// same image and user-data, which replaces it: under systemd the agent
	// adds it as a learner and etcd.service's health gate promotes it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 50 {
		if err := c.Put(ctx, c.Nodes[0].ClientURL(), fmt.Sprintf("/group/%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	dead := group[2]
	if err := dead.m.Kill(); err != nil {
		t.Fatal(err)
	}
	c.Remove(dead.n)
	fresh := boot(14)
	waitBooted(t, fresh.m, 3*time.Minute)
	waitMembers(t, c, []string{"10.123.0.11", "10.123.0.12", "10.123.0.14"}, 2*time.Minute)
	checkFirstBoot(t, fresh, bootstrap.ActionJoin)
	cli, err := c.Client(fresh.n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, "/group/", clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil || len(resp.Kvs) != 50 {
		t.Fatalf("keys on the replacement: %d, %v", len(resp.Kvs), err)
	}
}

// waitMembers waits until the cluster's members are exactly the voting,
// started members at addrs.
func waitMembers(t testing.TB, c *testcluster.Cluster, addrs []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		got, err := memberAddrs(c)
		if err == nil && slices.Equal(got, addrs) {
			return
		}
		last = fmt.Sprintf("%v (%v)", got, err)
		time.Sleep(time.Second)
	}
	t.Fatalf("members never became %v; last %s", addrs, last)
}

// memberAddrs lists the started voting members' peer addresses, sorted; a
// learner or an unstarted member makes it fail.
func memberAddrs(c *testcluster.Cluster) ([]string, error) {
	var eps []string
	for _, n := range c.Nodes {
		eps = append(eps, n.ClientURL())
	}
	cli, err := c.Client(eps...)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, m := range resp.Members {
		if m.IsLearner || m.Name == "" || len(m.PeerURLs) == 0 {
			return nil, fmt.Errorf("member %x not a started voter yet (learner %t, name %q)", m.ID, m.IsLearner, m.Name)
		}
		addrs = append(addrs, hostOf(m.PeerURLs[0]))
	}
	slices.Sort(addrs)
	return addrs, nil
}

// hostOf is the host part of a URL.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Hostname()
}
