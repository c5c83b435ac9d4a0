package etcdconfig

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/spec"
)

func samplePayload(mode string) *spec.NodePayload {
	p := &spec.NodePayload{
		Token:   "tok",
		Node:    &spec.Member{Name: "etcd1", IPs: []string{"10.0.0.1", "fd00::1"}},
		Members: []spec.Member{{Name: "etcd1", IPs: []string{"10.0.0.1", "fd00::1"}}, {Name: "etcd2", IPs: []string{"10.0.0.2"}}},
		Etcd: spec.Etcd{
			DataDir: "/var/lib/etcd", ClientPort: 2379, PeerPort: 2380, MetricsPort: 2381,
			HeartbeatInterval: spec.Duration(100 * time.Millisecond), ElectionTimeout: spec.Duration(time.Second),
			SnapshotCount: 5000, QuotaBackendBytes: 1 << 30, AutoCompactionMode: "periodic", AutoCompactionRetention: "1h",
		},
		Discovery: spec.Discovery{Mode: mode},
		TLS: spec.NodeTLS{CAFile: "/p/ca.crt", ServerCertFile: "/p/server.crt", ServerKeyFile: "/p/server.key",
			PeerCertFile: "/p/peer.crt", PeerKeyFile: "/p/peer.key"},
	}
	if mode == spec.DiscoveryEtcd {
		p.Discovery.Etcd = &spec.EtcdDiscovery{Endpoints: []string{"https://10.0.0.9:2379"}, Token: "dtok"}
	}
	return p
}

func TestMemberIsTheAgentsConfiguration(t *testing.T) {
	p := samplePayload(spec.DiscoveryStatic)
	got := Member(Input{Payload: p, Minor: 6, Addrs: NodeAddrs(*p.Node), Root: "/r", Cluster: Cluster{State: "new", Peers: p.Members}})
	want := Config{
		Minor: 6, Name: "etcd1", DataDir: "/r/var/lib/etcd",
		ListenPeerURLs:           []string{"https://10.0.0.1:2380", "https://[fd00::1]:2380"},
		ListenClientURLs:         []string{"https://10.0.0.1:2379", "https://[fd00::1]:2379", "https://127.0.0.1:2379"},
		ListenMetricsURLs:        []string{"https://10.0.0.1:2381", "https://[fd00::1]:2381", "https://127.0.0.1:2381"},
		AdvertiseClientURLs:      []string{"https://10.0.0.1:2379", "https://[fd00::1]:2379"},
		InitialAdvertisePeerURLs: []string{"https://10.0.0.1:2380", "https://[fd00::1]:2380"},
		InitialCluster:           "etcd1=https://10.0.0.1:2380,etcd1=https://[fd00::1]:2380,etcd2=https://10.0.0.2:2380",
		InitialClusterState:      "new", InitialClusterToken: "tok",
		HeartbeatMs: 100, ElectionMs: 1000, SnapshotCount: 5000, QuotaBackendBytes: 1 << 30,
		AutoCompactionMode: "periodic", AutoCompactionRetention: "1h",
		CAFile: "/r/p/ca.crt", CertFile: "/r/p/server.crt", KeyFile: "/r/p/server.key", PeerCertFile: "/r/p/peer.crt", PeerKeyFile: "/r/p/peer.key",
		TLSMinVersion: "TLS1.3",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Member =\n%+v\nwant\n%+v", got, want)
	}
}

func TestMemberInitialCluster(t *testing.T) {
	const join = "etcd1=https://10.0.0.1:2380,etcd3=https://10.0.0.3:2380"
	peers := []spec.Member{{Name: "etcd1", IPs: []string{"10.0.0.1"}}}
	tests := []struct {
		name          string
		mode          string
		cluster       Cluster
		wantCluster   string
		wantDiscovery string
	}{
		{"a forming member lists its peers", spec.DiscoveryStatic, Cluster{State: "new", Peers: peers}, "etcd1=https://10.0.0.1:2380", ""},
		{"a joining member lists the members its join found", spec.DiscoveryStatic, Cluster{State: "existing", Join: true, JoinMembers: join, Peers: peers}, join, ""},
		{"v3 discovery forms through its token", spec.DiscoveryEtcd, Cluster{State: "new", Peers: peers}, "", "dtok"},
		{"v3 discovery with a running cluster lists the peers", spec.DiscoveryEtcd, Cluster{State: "new", Peers: peers, Running: true}, "etcd1=https://10.0.0.1:2380", ""},
		{"v3 discovery joining lists the join's members", spec.DiscoveryEtcd, Cluster{State: "existing", Join: true, JoinMembers: join, Running: true}, join, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := samplePayload(tt.mode)
			c := Member(Input{Payload: p, Minor: 6, Addrs: NodeAddrs(*p.Node), Cluster: tt.cluster})
			if c.InitialCluster != tt.wantCluster || c.DiscoveryToken != tt.wantDiscovery || c.InitialClusterState != tt.cluster.State {
				t.Errorf("initial cluster %q, discovery token %q, state %q; want %q, %q, %q",
					c.InitialCluster, c.DiscoveryToken, c.InitialClusterState, tt.wantCluster, tt.wantDiscovery, tt.cluster.State)
			}
		})
	}
}

func TestGroupIdentity(t *testing.T) {
	as := &spec.Autoscaling{Subnets: []string{"10.0.1.0/24"}, Domain: "etcd.example", NamePrefix: "etcd-"}
	got, err := GroupIdentity(as, []netip.Addr{netip.MustParseAddr("192.168.0.5"), netip.MustParseAddr("10.0.1.7")})
	want := spec.Member{Name: "etcd-10-0-1-7", IPs: []string{"10.0.1.7"}, FQDN: "etcd-10-0-1-7.etcd.example"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("GroupIdentity = %+v, %v; want %+v", got, err, want)
	}
	if _, err := GroupIdentity(as, []netip.Addr{netip.MustParseAddr("192.168.0.5")}); err == nil {
		t.Error("GroupIdentity found an identity outside the subnets")
	}
}

// TestMemberTLSMinimum: the payload's minimum reaches etcd's settings, and
// the cipher suites come only with TLS 1.2.
func TestMemberTLSMinimum(t *testing.T) {
	for _, tt := range []struct {
		min, want string
		suites    []string
	}{
		{"", "TLS1.3", nil},
		{"TLS1.3", "TLS1.3", nil},
		{"TLS1.2", "TLS1.2", spec.TLS12CipherSuites},
	} {
		p := samplePayload(spec.DiscoveryStatic)
		p.TLS.MinVersion = tt.min
		c := Member(Input{Payload: p, Minor: 6, Addrs: NodeAddrs(*p.Node), Cluster: Cluster{State: "new", Peers: p.Members}})
		if c.TLSMinVersion != tt.want || !reflect.DeepEqual(c.CipherSuites, tt.suites) {
			t.Errorf("minVersion %q: tls-min-version %q, cipher-suites %v; want %q, %v", tt.min, c.TLSMinVersion, c.CipherSuites, tt.want, tt.suites)
		}
	}
}

func TestLoadLocalMemberReachesTheMemberOnItsFirstAddress(t *testing.T) {
	p := samplePayload(spec.DiscoveryStatic)
	p.APIVersion, p.Cluster = spec.APIVersion, "demo"
	p.Etcd.Version, p.Etcd.ConfigFormat = "3.6.16", "yaml"
	data, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "payload.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := LoadLocalMember(path, "/r", "")
	if err != nil {
		t.Fatal(err)
	}
	if l.Endpoint != "https://10.0.0.1:2379" || l.TLS.CAFile != "/r/p/ca.crt" || l.TLS.CertFile != "/r/p/server.crt" || l.TLS.KeyFile != "/r/p/server.key" || l.Payload.Cluster != "demo" {
		t.Errorf("local member %+v", l)
	}
	if l, err := LoadLocalMember(path, "/", "https://127.0.0.1:3379"); err != nil || l.Endpoint != "https://127.0.0.1:3379" || l.TLS.CAFile != "/p/ca.crt" {
		t.Errorf("with an endpoint: %+v, %v", l, err)
	}
	if _, err := LoadLocalMember(filepath.Join(t.TempDir(), "none.yaml"), "/", ""); err == nil {
		t.Error("a missing payload loaded")
	}
	if err := MissingSection(path, "backup"); !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "add backup: to the cluster spec") {
		t.Errorf("missing section: %v", err)
	}
}
