package status

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/pki"
)

func TestCheckReportsEveryMemberOfAHealthyCluster(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	r, took, err := check(t, c.options(t, pki.HealthcheckClient, 5*time.Second))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	t.Logf("Check took %s", took)
	// etcd's version monitor writes the storage version into each member a
	// moment after the cluster version is set: ask again until it has.
	for deadline := time.Now().Add(15 * time.Second); !storageWritten(r) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		if r, _, err = check(t, c.options(t, pki.HealthcheckClient, 5*time.Second)); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	if !r.Healthy() {
		t.Errorf("Healthy() = false, want true; report: %+v", r.Endpoints)
	}
	if len(r.Endpoints) != 3 {
		t.Fatalf("%d endpoints reported, want 3", len(r.Endpoints))
	}
	if r.ClusterVersion != "3.6.0" {
		t.Errorf("cluster version %q, want 3.6.0", r.ClusterVersion)
	}
	leaders := 0
	ids := map[string]bool{}
	for i, e := range r.Endpoints {
		m := c.members[i]
		if e.Endpoint != m.clientURL {
			t.Errorf("endpoint %d = %s, want %s (input order)", i, e.Endpoint, m.clientURL)
		}
		if !e.Healthy || e.Error != "" {
			t.Errorf("%s: healthy %v, error %q; want healthy without error", e.Endpoint, e.Healthy, e.Error)
		}
		if e.Name != m.name {
			t.Errorf("%s: name %q, want %q", e.Endpoint, e.Name, m.name)
		}
		if e.ID == "" || ids[e.ID] {
			t.Errorf("%s: ID %q is empty or repeated", e.Endpoint, e.ID)
		}
		ids[e.ID] = true
		if e.Version != "3.6.16" || e.StorageVersion != "3.6.0" {
			t.Errorf("%s: version %q, storage %q; want 3.6.16 and 3.6.0", e.Endpoint, e.Version, e.StorageVersion)
		}
		if e.DBSize <= 0 || e.DBSizeInUse <= 0 || e.DBSizeInUse > e.DBSize {
			t.Errorf("%s: db size %d, in use %d; want 0 < in use <= size", e.Endpoint, e.DBSize, e.DBSizeInUse)
		}
		if e.RaftTerm == 0 || e.RaftIndex == 0 || e.RaftAppliedIndex == 0 {
			t.Errorf("%s: raft term/index/applied = %d/%d/%d, want all > 0", e.Endpoint, e.RaftTerm, e.RaftIndex, e.RaftAppliedIndex)
		}
		if e.RaftTerm != r.Endpoints[0].RaftTerm {
			t.Errorf("%s: raft term %d, %s has %d; want one term", e.Endpoint, e.RaftTerm, r.Endpoints[0].Endpoint, r.Endpoints[0].RaftTerm)
		}
		if e.IsLearner {
			t.Errorf("%s: learner, want voter", e.Endpoint)
		}
		if e.Took <= 0 || e.Took > 5*time.Second {
			t.Errorf("%s: took %s, want within (0, 5s]", e.Endpoint, e.Took)
		}
		if e.IsLeader {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders reported, want exactly 1", leaders)
	}

	var names []string
	for _, m := range r.Members {
		names = append(names, m.Name)
		if !ids[m.ID] {
			t.Errorf("member %s has ID %s, which no endpoint reported", m.Name, m.ID)
		}
		i := slices.IndexFunc(c.members, func(tm *testMember) bool { return tm.name == m.Name })
		if i < 0 {
			continue
		}
		if want := []string{c.members[i].peerURL}; !slices.Equal(m.PeerURLs, want) {
			t.Errorf("member %s peer URLs %v, want %v", m.Name, m.PeerURLs, want)
		}
		if want := []string{c.members[i].clientURL}; !slices.Equal(m.ClientURLs, want) {
			t.Errorf("member %s client URLs %v, want %v", m.Name, m.ClientURLs, want)
		}
	}
	slices.Sort(names)
	if want := []string{"m0", "m1", "m2"}; !slices.Equal(names, want) {
		t.Errorf("member list names %v, want %v", names, want)
	}

	var table strings.Builder
	if err := WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.members {
		if !strings.Contains(table.String(), m.clientURL) {
			t.Errorf("table lacks %s:\n%s", m.clientURL, table.String())
		}
	}
	t.Logf("\n%s", table.String())
}

func TestCheckReportsKilledMemberUnhealthyWithinTimeout(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	const timeout = 2 * time.Second
	opts := c.options(t, pki.HealthcheckClient, timeout)

	// Kill a follower: the point is a dead endpoint, not an election.
	before, _, err := check(t, opts)
	if err != nil || !before.Healthy() {
		t.Fatalf("cluster not healthy before the kill: err %v, report %+v", err, before.Endpoints)
	}
	dead := slices.IndexFunc(before.Endpoints, func(e EndpointStatus) bool { return !e.IsLeader })
	c.members[dead].kill(t)

	r, took, err := check(t, opts)
	if err != nil {
		t.Fatalf("Check: %v (two of three members are up)", err)
	}
	// The dead endpoint costs its timeout and no more. (That endpoints are
	// asked concurrently is shown by TestCheckExplainsRejectedTLSPerEndpoint,
	// where all three fail and the whole Check still takes one timeout.)
	if took > timeout+time.Second {
		t.Errorf("Check took %s with one dead endpoint, want at most about its timeout %s", took, timeout)
	}
	if r.Healthy() {
		t.Errorf("Healthy() = true with a member killed")
	}
	for i, e := range r.Endpoints {
		if i == dead {
			if e.Healthy {
				t.Errorf("%s (killed): healthy", e.Endpoint)
			}
			if !strings.Contains(e.Error, "connection refused") {
				t.Errorf("%s (killed): error %q, want one saying the connection was refused", e.Endpoint, e.Error)
			}
			if e.ID != "" {
				t.Errorf("%s (killed): ID %q, want none", e.Endpoint, e.ID)
			}
			continue
		}
		if !e.Healthy || e.Error != "" {
			t.Errorf("%s: healthy %v, error %q; want healthy", e.Endpoint, e.Healthy, e.Error)
		}
	}
	if len(r.Members) != 3 {
		t.Errorf("member list has %d members, want 3 (a killed member stays a member)", len(r.Members))
	}

	t.Run("only the dead endpoint", func(t *testing.T) {
		opts := opts
		opts.Endpoints = []string{c.members[dead].clientURL}
		opts.Timeout = time.Second
		r, _, err := check(t, opts)
		if !errors.Is(err, ErrNoAnswer) {
			t.Fatalf("Check error = %v, want ErrNoAnswer", err)
		}
		if !strings.Contains(err.Error(), c.members[dead].clientURL) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("error %q does not name the endpoint and its failure", err)
		}
		if len(r.Endpoints) != 1 || r.Endpoints[0].Healthy || r.Endpoints[0].Error == "" {
			t.Errorf("report %+v, want the one endpoint listed unhealthy with its error", r.Endpoints)
		}
	})
}

func TestCheckReportsMemberWithoutQuorumByItsStatus(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	const timeout = 2 * time.Second
	c.members[1].kill(t)
	c.members[2].kill(t)
	opts := c.options(t, pki.HealthcheckClient, timeout)
	opts.Endpoints = []string{c.members[0].clientURL}

	r, took, err := check(t, opts)
	if err != nil {
		t.Fatalf("Check: %v (the survivor answers status, so this is a report, not an error)", err)
	}
	if took > timeout+time.Second {
		t.Errorf("Check took %s, want about its timeout %s", took, timeout)
	}
	e := r.Endpoints[0]
	if e.Healthy || r.Healthy() {
		t.Errorf("member without quorum reported healthy: %+v", e)
	}
	// Status and the member list are asked first and answered locally, so
	// the report still says who the member is.
	if e.ID == "" || e.Name != "m0" || e.Version == "" || e.RaftTerm == 0 || len(r.Members) != 3 {
		t.Errorf("survivor's status or member list missing: %+v, members %+v", e, r.Members)
	}
	if !strings.Contains(e.Error, "health read: no answer within 2s") || !strings.Contains(e.Error, "lost quorum") {
		t.Errorf("error %q, want the health read's timeout and a hint about quorum", e.Error)
	}
	t.Logf("%s", e.Error)
}

func TestCheckExplainsRejectedTLSPerEndpoint(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3)
	const timeout = time.Second
	good := c.options(t, pki.HealthcheckClient, timeout)

	other := newRootCA(t)
	otherDir := t.TempDir()
	otherCA := writeFile(t, filepath.Join(otherDir, "ca.crt"), other.CertPEM())
	otherCert, otherKey := writeKeyPair(t, otherDir, "foreign", issue(t, other, pki.ClientRequest(pki.HealthcheckClient, nil, pki.KeySpec{}, time.Hour)))

	tests := []struct {
		name   string
		modify func(*Options)
		want   []string
	}{
		{"wrong CA", func(o *Options) { o.CAFile = otherCA }, []string{"certificate signed by unknown authority", "use the cluster's ca.crt"}},
		{"no client certificate", func(o *Options) { o.CertFile, o.KeyFile = "", "" }, []string{"certificate required", "requires a client certificate"}},
		{"client certificate from another CA", func(o *Options) { o.CertFile, o.KeyFile = otherCert, otherKey }, []string{"refused the client certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := good
			tt.modify(&opts)
			r, took, err := check(t, opts)
			if !errors.Is(err, ErrNoAnswer) {
				t.Errorf("Check error = %v, want ErrNoAnswer", err)
			}
			if took > timeout+time.Second {
				t.Errorf("Check took %s, want about its timeout %s", took, timeout)
			}
			if r.Healthy() || len(r.Endpoints) != len(c.members) {
				t.Fatalf("report %+v: want every endpoint listed, unhealthy", r.Endpoints)
			}
			for _, e := range r.Endpoints {
				if e.Healthy {
					t.Errorf("%s: healthy with %s", e.Endpoint, tt.name)
				}
				for _, w := range append([]string{"no answer within 1s"}, tt.want...) {
					if !strings.Contains(e.Error, w) {
						t.Errorf("%s: error %q lacks %q", e.Endpoint, e.Error, w)
					}
				}
			}
			t.Logf("%s: %s", tt.name, r.Endpoints[0].Error)
		})
	}
}

func TestCheckCountsPermissionDeniedAsHealthy(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1)
	opts := c.options(t, pki.HealthcheckClient, 5*time.Second)

	// With auth on, the healthcheck-client has no user and so no read
	// permission: its health read is refused after going through consensus.
	root := clientFor(t, c, pki.AdminClient)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := root.UserAdd(ctx, "root", "status-test-password"); err != nil {
		t.Fatalf("add user root: %v", err)
	}
	if _, err := root.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatalf("grant role root: %v", err)
	}
	if _, err := root.AuthEnable(ctx); err != nil {
		t.Fatalf("enable auth: %v", err)
	}
	hc := clientFor(t, c, pki.HealthcheckClient)
	if _, err := hc.Get(ctx, healthKey); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("health read with auth on: %v, want permission denied (else this test proves nothing)", err)
	}

	r, _, err := check(t, opts)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !r.Healthy() || r.Endpoints[0].Error != "" {
		t.Errorf("endpoint %+v: want healthy, as etcdctl counts permission denied", r.Endpoints[0])
	}
	if r.Endpoints[0].Name != "m0" || len(r.Members) != 1 {
		t.Errorf("status and member list missing with auth on: %+v, members %+v", r.Endpoints[0], r.Members)
	}
}

// clientFor is an etcd client of the whole cluster with certificate cn.
func clientFor(t *testing.T, c *testCluster, cn string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.endpoints(),
		TLS:         c.clientTLS(t, cn),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client as %s: %v", cn, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func TestCheckRefusesBadOptionsBeforeAskingAnyone(t *testing.T) {
	dir := t.TempDir()
	notPEM := writeFile(t, filepath.Join(dir, "ca.crt"), []byte("not a certificate"))
	ca := newRootCA(t)
	caFile := writeFile(t, filepath.Join(dir, "real-ca.crt"), ca.CertPEM())
	certFile, keyFile := writeKeyPair(t, dir, "client", issue(t, ca, pki.ClientRequest(pki.HealthcheckClient, nil, pki.KeySpec{}, time.Hour)))
	ep := []string{"https://127.0.0.1:1"}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no endpoints", Options{CAFile: caFile}, "no endpoints"},
		{"missing CA file", Options{Endpoints: ep, CAFile: filepath.Join(dir, "absent.crt")}, "absent.crt"},
		{"CA file without PEM", Options{Endpoints: ep, CAFile: notPEM}, "holds no PEM certificate"},
		{"certificate without key", Options{Endpoints: ep, CAFile: caFile, CertFile: certFile}, "give both or neither"},
		{"key without certificate", Options{Endpoints: ep, CAFile: caFile, KeyFile: keyFile}, "give both or neither"},
		{"key of another certificate", Options{Endpoints: ep, CAFile: caFile, CertFile: certFile, KeyFile: writeFile(t, filepath.Join(dir, "ca.key"), ca.KeyPEM())}, "load client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r, err := Check(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check error = %v, want one containing %q", err, tt.want)
			}
			if errors.Is(err, ErrNoAnswer) || len(r.Endpoints) != 0 {
				t.Errorf("bad options were taken to the network: err %v, report %+v", err, r)
			}
			if time.Since(start) > time.Second {
				t.Errorf("refusing bad options took %s", time.Since(start))
			}
		})
	}
}

// storageWritten reports whether every endpoint reports a storage version.
func storageWritten(r Report) bool {
	for _, e := range r.Endpoints {
		if e.StorageVersion != "3.6.0" {
			return false
		}
	}
	return true
}
