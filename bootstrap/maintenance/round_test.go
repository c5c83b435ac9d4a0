package maintenance_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/bootstrap/maintenance"
	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// cluster is three real etcd members on 127.0.0.1 with the three-node
// example's certificates.
type cluster struct {
	pki     string
	members []*etcdtest.Etcd
	names   []string
}

// startThree starts a three-member cluster; flags go to every member.
func startThree(t testing.TB, flags ...string) *cluster {
	t.Helper()
	etcdtest.Binary(t, "etcd")
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(t), OutDir: out}); err != nil {
		t.Fatal(err)
	}
	c := &cluster{pki: filepath.Join(out, "pki")}
	dir := t.TempDir()
	ports := etcdtest.FreePorts(t, 3)
	var initial []string
	for i, p := range ports {
		initial = append(initial, fmt.Sprintf("etcd%d=%s", i+1, etcdtest.PeerURL(p)))
	}
	var ms []etcdtest.Member
	for i, p := range ports {
		name := fmt.Sprintf("etcd%d", i+1)
		c.names = append(c.names, name)
		ms = append(ms, etcdtest.Member{Name: name, PKIDir: c.pki, DataDir: filepath.Join(dir, name),
			PeerPort: p, InitialCluster: strings.Join(initial, ","), Flags: flags})
	}
	c.members = etcdtest.StartCluster(t, ms...)
	return c
}

// payload writes the node payload of member i, whose maintenance section
// is maintenanceYAML (a flow mapping) and etcd's quota quota.
func (c *cluster) payload(t testing.TB, i int, quota, maintenanceYAML string) string {
	t.Helper()
	name := c.names[i]
	p := fmt.Sprintf(`apiVersion: etcdboot/v1
cluster: demo
token: demo
node: {name: %[3]s, ips: [192.168.2.5%[4]d]}
members: [{name: etcd1, ips: [192.168.2.51]}, {name: etcd2, ips: [192.168.2.52]}, {name: etcd3, ips: [192.168.2.53]}]
etcd: {version: 3.6.16, dataDir: /var/lib/etcd, configFormat: yaml, clientPort: 2379, peerPort: 2380, metricsPort: 2381, quotaBackendBytes: %[5]s}
discovery: {mode: static}
tls: {caFile: %[1]s/ca.crt, serverCertFile: %[1]s/%[3]s-server.crt, serverKeyFile: %[1]s/%[3]s-server.key, peerCertFile: %[1]s/%[3]s-peer.crt, peerKeyFile: %[1]s/%[3]s-peer.key}
maintenance: %[2]s
`, c.pki, maintenanceYAML, name, i+1, quota)
	path := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(path, []byte(p), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// client connects to every member as admin, with dopts added to
// client/v3's own dial options.
func (c *cluster) client(t testing.TB, dopts ...grpc.DialOption) *clientv3.Client {
	t.Helper()
	conf, err := c.members[0].TLS.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.Endpoint)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: conf, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), DialOptions: dopts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// leaderName names the member that leads now.
func (c *cluster) leaderName(t *testing.T, cli *clientv3.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, m := range c.members {
		st, err := cli.Status(ctx, m.Endpoint)
		if err == nil && st.Leader == st.Header.MemberId {
			return c.names[i]
		}
	}
	t.Fatal("no member leads")
	return ""
}

// dbSizes are the members' database files' sizes, by name.
func (c *cluster) dbSizes(t *testing.T, cli *clientv3.Client) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sizes := map[string]int64{}
	for i, m := range c.members {
		st, err := cli.Status(ctx, m.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		sizes[c.names[i]] = st.DbSize
	}
	return sizes
}

// fragment writes n values of size bytes, deletes them and compacts: the
// database files keep their size, mostly free pages.
func fragment(t testing.TB, cli *clientv3.Client, n, size int) {
	t.Helper()
	rev := etcdtest.PutKeys(t, cli, n, size)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	del, err := cli.Delete(ctx, etcdtest.Key(0)[:len("/etcdtest/")], clientv3.WithPrefix())
	if err != nil || del.Deleted != int64(n) {
		t.Fatalf("delete: %v (%+v)", err, del)
	}
	if _, err := cli.Compact(ctx, max(rev, del.Header.Revision), clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
}

func TestLockKeyIsTheJoinLock(t *testing.T) {
	if maintenance.LockKey != bootstrap.JoinLockKey {
		t.Fatalf("maintenance.LockKey %q, bootstrap.JoinLockKey %q: rounds must serialize with joins and upgrades", maintenance.LockKey, bootstrap.JoinLockKey)
	}
}

// TestRoundDefragmentsFollowersFirstAndTheLeaderLast: on a real fragmented
// three-member cluster a round defragments the followers one at a time and
// then the leader, after moving leadership away; every database shrinks,
// and the next round finds nothing to do.
func TestRoundDefragmentsFollowersFirstAndTheLeaderLast(t *testing.T) {
	c := startThree(t)
	cli := c.client(t)
	fragment(t, cli, 2000, 4096)
	before := c.dbSizes(t, cli)
	leader := c.leaderName(t, cli)
	payload := c.payload(t, 0, "2GiB", "{fragmentation: {freeRatio: 0.5, minFreeBytes: 1MiB}, window: {start: \"00:00\", duration: 1h}}")
	stateDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	r, err := maintenance.RunRound(ctx, maintenance.Options{PayloadPath: payload, StateDir: stateDir, Endpoint: c.members[0].Endpoint,
		Trigger: maintenance.TriggerManual, Out: &out, Now: func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != maintenance.KindDefrag || r.Result != maintenance.ResultOK || r.Lock != "held" || r.Member != "etcd1" || len(r.Members) != 3 {
		t.Fatalf("round %+v\n%s", r, out.String())
	}
	var order []string
	for _, m := range r.Members {
		order = append(order, m.Name)
	}
	var followers []string
	for _, n := range c.names {
		if n != leader {
			followers = append(followers, n)
		}
	}
	if want := append(followers, leader); !slices.Equal(order, want) {
		t.Errorf("defragmented %v; want the followers by name, the leader (%s) last: %v", order, leader, want)
	}
	for i, m := range r.Members {
		if (m.MovedLeaderTo != "") != (i == 2) || (i == 2 && m.MovedLeaderTo != followers[1]) {
			t.Errorf("member %s: leadership moved to %q", m.Name, m.MovedLeaderTo)
		}
		if m.After >= m.Before || m.Before != before[m.Name] {
			t.Errorf("member %s: %d -> %d bytes (status said %d before)", m.Name, m.Before, m.After, before[m.Name])
		}
		if i > 0 {
			prev := r.Members[i-1]
			if m.Started.Before(prev.Started.Add(prev.Took)) {
				t.Errorf("%s started at %v, before %s answered again (%v + %v): not one at a time", m.Name, m.Started, prev.Name, prev.Started, prev.Took)
			}
		}
	}
	if now := c.leaderName(t, cli); now == leader {
		t.Errorf("%s still leads after its defragmentation", now)
	}
	after := c.dbSizes(t, cli)
	for name, size := range after {
		if size*2 > before[name] {
			t.Errorf("%s: database %d bytes after, %d before; want it at least halved", name, size, before[name])
		}
	}
	if r.Reclaimed < 3*(before["etcd1"]/2) || !strings.Contains(out.String(), "defrag round done") {
		t.Errorf("reclaimed %d; output:\n%s", r.Reclaimed, out.String())
	}
	reclaimed := r.Reclaimed

	// Nothing is left to do; a round by the timer outside its window skips.
	r, err = maintenance.RunRound(ctx, maintenance.Options{PayloadPath: payload, StateDir: stateDir, Endpoint: c.members[0].Endpoint, Trigger: maintenance.TriggerManual})
	if err != nil || r.Result != maintenance.ResultSkipped || !strings.HasPrefix(r.Reason, "no member is over the threshold") || r.Lock != "" {
		t.Errorf("second round %+v, %v", r, err)
	}
	fragment(t, cli, 1000, 4096)
	r, err = maintenance.RunRound(ctx, maintenance.Options{PayloadPath: payload, StateDir: stateDir, Endpoint: c.members[0].Endpoint,
		Now: func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }})
	if err != nil || r.Result != maintenance.ResultSkipped || r.Reason != "outside the maintenance window (00:00 UTC for 1h0m0s)" || r.Trigger != maintenance.TriggerTimer {
		t.Errorf("timer round outside the window %+v, %v", r, err)
	}
	st, err := maintenance.ReadState(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Defrag.OK != 1 || st.Defrag.Skipped != 2 || st.Reclaimed != reclaimed || st.LastSuccess.IsZero() {
		t.Errorf("state %+v", st)
	}
}

// TestRoundSkipsWhileAVoterIsDown: with one member stopped the round
// defragments nobody, and says which voter it waits for.
func TestRoundSkipsWhileAVoterIsDown(t *testing.T) {
	c := startThree(t)
	cli := c.client(t)
	fragment(t, cli, 1000, 4096)
	c.members[2].Stop()
	payload := c.payload(t, 0, "2GiB", "{fragmentation: {freeRatio: 0.3, minFreeBytes: 1MiB}}")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := maintenance.RunRound(ctx, maintenance.Options{PayloadPath: payload, StateDir: t.TempDir(), Endpoint: c.members[0].Endpoint, Trigger: maintenance.TriggerManual})
	if err != nil || r.Result != maintenance.ResultSkipped || !strings.HasPrefix(r.Reason, "voter etcd3 is not healthy (") || len(r.Members) != 0 {
		t.Fatalf("round %+v, %v", r, err)
	}
}

// TestRoundWaitsForTheClusterLock: while a join holds the cluster-wide lock
// a round waits for it, and skips after its lock timeout.
func TestRoundWaitsForTheClusterLock(t *testing.T) {
	c := startThree(t)
	cli := c.client(t)
	fragment(t, cli, 1000, 4096)
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := concurrency.NewMutex(s, bootstrap.JoinLockKey)
	if err := m.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	payload := c.payload(t, 1, "2GiB", "{fragmentation: {freeRatio: 0.3, minFreeBytes: 1MiB}}")
	stateDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := maintenance.RunRound(ctx, maintenance.Options{PayloadPath: payload, StateDir: stateDir, Endpoint: c.members[1].Endpoint, Trigger: maintenance.TriggerManual, LockTimeout: 2 * time.Second})
	if err != nil || r.Result != maintenance.ResultSkipped || len(r.Members) != 0 ||
		r.Reason != "the cluster-wide lock is busy: a join, an upgrade or another round held /etcdboot/locks/join for more than 2s; the next round tries again" {
		t.Fatalf("round under a held lock: %+v, %v", r, err)
	}
	// Once the holder is done, the round goes through.
	go func() {
		time.Sleep(time.Second)
		_ = m.Unlock(context.Background())
	}()
	r, err = maintenance.RunRound(ctx, maintenance.Options{PayloadPath: payload, StateDir: stateDir, Endpoint: c.members[1].Endpoint, Trigger: maintenance.TriggerManual})
	if err != nil || r.Result != maintenance.ResultOK || len(r.Members) != 3 {
		t.Fatalf("round after the lock was freed: %+v, %v", r, err)
	}
	st, _ := maintenance.ReadState(stateDir)
	if st.Defrag.Skipped != 1 || st.Defrag.OK != 1 {
		t.Errorf("state %+v", st)
	}
}

// TestNoSpaceIsHealed fills a real cluster with a 4MiB quota until etcd
// raises NOSPACE and refuses writes; the watcher's round on the healer
// (the lowest member ID: the lock cannot be taken under NOSPACE) compacts,
// defragments every member and disarms, and writes work again. The other
// agents leave it to the healer.
func TestNoSpaceIsHealed(t *testing.T) {
	const quota = 4 << 20
	c := startThree(t, fmt.Sprintf("--quota-backend-bytes=%d", quota))
	cli := c.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	value := strings.Repeat("x", 64<<10)
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		_, err = cli.Put(ctx, fmt.Sprintf("/fill/%d", i%4), value)
	}
	if !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("filling a %d-byte quota: %v", quota, err)
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) == 0 || alarms.Alarms[0].Alarm != pb.AlarmType_NOSPACE {
		t.Fatalf("alarms %+v, %v", alarms, err)
	}

	// Which member heals: the lowest ID.
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	healer, other := -1, -1
	var lowest uint64
	for _, m := range ml.Members {
		i := slices.Index(c.names, m.Name)
		if healer < 0 || m.ID < lowest {
			healer, lowest = i, m.ID
		}
	}
	other = (healer + 1) % 3
	spec := "{spaceAlarm: {retention: 10, margin: 0.2}, fragmentation: {minFreeBytes: 1MiB}}"
	opts := func(i int, stateDir string) maintenance.Options {
		return maintenance.Options{PayloadPath: c.payload(t, i, "4MiB", spec), StateDir: stateDir, Endpoint: c.members[i].Endpoint, Trigger: maintenance.TriggerAlarm}
	}
	otherState := t.TempDir()
	r, err := maintenance.RunRound(ctx, opts(other, otherState))
	if err != nil || r.Result != maintenance.ResultSkipped || !strings.Contains(r.Reason, "the agent of "+c.names[healer]+" (the healthy voter with the lowest ID) heals it") {
		t.Fatalf("%s's round: %+v, %v", c.names[other], r, err)
	}
	if _, err := os.Stat(filepath.Join(otherState, maintenance.StateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a watcher's round that left healing to another recorded itself: %v", err)
	}

	before := c.dbSizes(t, cli)
	healerState := t.TempDir()
	r, err = maintenance.RunRound(ctx, opts(healer, healerState))
	if err != nil {
		t.Fatalf("heal: %v\n%+v", err, r)
	}
	if r.Kind != maintenance.KindHeal || r.Result != maintenance.ResultOK || r.Lock != "healer" || r.Compacted == 0 || !r.Disarmed || len(r.Members) != 3 {
		t.Fatalf("heal round %+v", r)
	}
	if last := r.Members[2]; last.MovedLeaderTo == "" {
		t.Errorf("the leader was defragmented without moving leadership away: %+v", r.Members)
	}
	alarms, err = cli.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) != 0 {
		t.Fatalf("alarms after the heal: %+v, %v", alarms, err)
	}
	for name, size := range c.dbSizes(t, cli) {
		if size > quota*8/10 || size >= before[name] {
			t.Errorf("%s: database %d bytes after the heal, %d before (quota %d)", name, size, before[name], quota)
		}
	}
	if _, err := cli.Put(ctx, "/after-heal", "works"); err != nil {
		t.Fatalf("a write after the heal: %v", err)
	}
	st, err := maintenance.ReadState(healerState)
	if err != nil || st.Heal.OK != 1 || st.Reclaimed <= 0 {
		t.Errorf("healer's state %+v, %v", st, err)
	}
	// With nothing left to heal the watcher's round records nothing.
	if r, err = maintenance.RunRound(ctx, opts(healer, healerState)); err != nil || r.Result != maintenance.ResultSkipped {
		t.Errorf("a round after the heal: %+v, %v", r, err)
	}
	if st2, _ := maintenance.ReadState(healerState); st2.Heal != st.Heal || st2.Defrag != st.Defrag {
		t.Errorf("a watcher's round without an alarm was recorded: %+v", st2)
	}
}
