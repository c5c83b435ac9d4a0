package recovery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/spec"
)

func TestMemberEndpointFindsTheSpecsAddress(t *testing.T) {
	static := &spec.Cluster{Name: "demo", Members: []spec.Member{{Name: "etcd1", IPs: []string{"10.0.0.11"}}, {Name: "etcd2", IPs: []string{"10.0.0.12"}}}}
	static.Etcd.ClientPort = 2479
	group := &spec.Cluster{Name: "grp", Autoscaling: &spec.Autoscaling{NamePrefix: "etcd-", Subnets: []string{"10.123.0.0/24", "fd00::/64"}, Seeds: []string{"10.123.0.11"}}}
	for _, tc := range []struct {
		name   string
		c      *spec.Cluster
		member string
		want   string // the URL, or what the error says
		err    bool
	}{
		{"a listed member", static, "etcd2", "https://10.0.0.12:2479", false},
		{"an unknown listed member", static, "etcd9", `cluster demo has no member "etcd9"; its members are etcd1, etcd2`, true},
		{"a group member", group, "etcd-10-123-0-42", "https://10.123.0.42:2379", false},
		{"a group member on IPv6", group, "etcd-fd00--7", "https://[fd00::7]:2379", false},
		{"an address outside the subnets", group, "etcd-10-9-0-42", `"etcd-10-9-0-42" is not a member name of group grp`, true},
		{"another prefix", group, "node-10-123-0-42", "(such as etcd-10-123-0-11)", true},
		{"not an address", group, "etcd-first", "autoscaling.namePrefix", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := memberEndpoint(tc.c, tc.member)
			switch {
			case tc.err && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %q, %v; want an error saying %q", got, err, tc.want)
			case !tc.err && (err != nil || got != tc.want):
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// liveCluster is three real members on loopback, the generated PKI, a spec
// of their cluster whose backup.target is a file:// store, and the options
// that reach them.
type liveCluster struct {
	members  []*etcdtest.Etcd
	storeDir string
	opts     Options
}

func startLive(t *testing.T) liveCluster {
	t.Helper()
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(t), OutDir: out}); err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(out, "pki")
	dir := t.TempDir()
	ports := etcdtest.FreePorts(t, 3)
	var initial []string
	for i, p := range ports {
		initial = append(initial, fmt.Sprintf("etcd%d=%s", i+1, etcdtest.PeerURL(p)))
	}
	var ms []etcdtest.Member
	for i, p := range ports {
		ms = append(ms, etcdtest.Member{Name: fmt.Sprintf("etcd%d", i+1), PKIDir: pki, DataDir: filepath.Join(dir, fmt.Sprint(i)),
			PeerPort: p, InitialCluster: strings.Join(initial, ",")})
	}
	lc := liveCluster{members: etcdtest.StartCluster(t, ms...), storeDir: t.TempDir()}
	specPath := filepath.Join(t.TempDir(), "cluster.yaml")
	data := "apiVersion: etcdboot/v1\nname: demo\netcd: {version: " + spec.DefaultEtcdVersion + "}\nmembers:\n" +
		"  - {name: etcd1, ips: [10.0.0.11]}\n  - {name: etcd2, ips: [10.0.0.12]}\n  - {name: etcd3, ips: [10.0.0.13]}\n" +
		"backup:\n  target: file://" + lc.storeDir + "\n"
	if err := os.WriteFile(specPath, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	lc.opts = Options{SpecPath: specPath, PKIDir: pki}
	for _, e := range lc.members {
		lc.opts.Endpoints = append(lc.opts.Endpoints, e.Endpoint)
	}
	return lc
}

func (lc liveCluster) store(t *testing.T) *backupstore.Store {
	t.Helper()
	s, err := backupstore.Open(context.Background(), "file://"+lc.storeDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRecoverFromASurvivingMember: on a real cluster of three that lost two
// members, recover --from-member takes the survivor's snapshot through
// etcd's Maintenance API (which answers without a quorum), uploads it as a
// verified, trial-restored backup marked as the survivor's, with every key it holds, and
// writes the request naming it. It refuses while a quorum answers, for a
// member that is down or not among the endpoints, and with --from too;
// none of these leaves anything in the store.
func TestRecoverFromASurvivingMember(t *testing.T) {
	lc := startLive(t)
	cli := lc.members[0].Client(t)
	rev := etcdtest.PutKeys(t, cli, 500, 64)
	cli.Close()
	ctx := context.Background()
	fromMember := func(name string) Options {
		o := lc.opts
		o.FromMember = name
		return o
	}
	if _, err := Request(ctx, fromMember("etcd1")); !errors.Is(err, ErrQuorumAnswers) {
		t.Fatalf("with a quorum: %v, want ErrQuorumAnswers", err)
	}
	both := fromMember("etcd1")
	both.From = Latest
	if _, err := Request(ctx, both); !errors.Is(err, ErrBothSources) || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("--from and --from-member: %v, want ErrBothSources", err)
	}
	lc.members[1].Stop()
	lc.members[2].Stop()
	for _, tc := range []struct{ member, says string }{
		{"etcd2", "member etcd2: the member does not answer"},
		{"etcd9", "member etcd9: the member does not answer: no endpoint that answers is it (https://"},
	} {
		if _, err := Request(ctx, fromMember(tc.member)); !errors.Is(err, ErrMemberDoesNotAnswer) || !strings.Contains(err.Error(), tc.says) {
			t.Fatalf("--from-member %s: %v, want ErrMemberDoesNotAnswer saying %q", tc.member, err, tc.says)
		}
	}
	s := lc.store(t)
	if l, err := s.List(ctx, "demo"); err != nil || len(l.Backups)+len(l.Problems) != 0 {
		t.Fatalf("the refusals left %+v, %v in the store", l, err)
	}

	res, err := Request(ctx, fromMember("etcd1"))
	if err != nil {
		t.Fatal(err)
	}
	m := res.Uploaded
	if m == nil || m.Member != "etcd1" || m.Source != backupstore.SourceSurvivor || !m.Verified || !m.TestRestored || m.Revision != rev || m.TotalKeys != 500 || m.ClusterID == "" {
		t.Fatalf("uploaded %+v: want a verified, trial-restored backup of etcd1 at revision %d with 500 keys", m, rev)
	}
	l, err := s.List(ctx, "demo")
	if err != nil || len(l.Verified()) != 1 || l.Verified()[0] != *m {
		t.Fatalf("backup list %+v, %v: want the survivor's backup", l, err)
	}
	r, ok, err := s.ReadRecoveryRequest(ctx, "demo")
	if err != nil || !ok || r.Backup != m.Name || r.Nonce != res.Request.Nonce || r.ClusterID != m.ClusterID {
		t.Fatalf("request %+v, %v, %v: want one naming %s", r, ok, err, m.Name)
	}
	if _, info, err := s.Fetch(ctx, m.Name, filepath.Join(t.TempDir(), "s.db"), backupstore.Expect{Cluster: "demo"}); err != nil || info.TotalKeys != 500 {
		t.Fatalf("fetch the survivor's backup: %+v, %v", info, err)
	}
}
