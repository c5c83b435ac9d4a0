package bootstrap

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/spec"
)

func m(name string, ips ...string) spec.Member { return spec.Member{Name: name, IPs: ips} }

func TestCandidates(t *testing.T) {
	group := &spec.Autoscaling{Size: 3, NamePrefix: "etcd-", Seeds: []string{"10.0.1.5", "10.0.1.6", "10.0.1.7", "10.0.1.8"}}
	seeds := []spec.Member{m("etcd-10-0-1-5", "10.0.1.5"), m("etcd-10-0-1-6", "10.0.1.6"), m("etcd-10-0-1-7", "10.0.1.7")}
	peers := []spec.Member{m("etcd1", "10.0.0.1")}
	tests := []struct {
		name  string
		as    *spec.Autoscaling
		peers []spec.Member
		want  []spec.Member
	}{
		{"static members are probed", nil, peers, peers},
		{"no members and no group: nothing to probe", nil, nil, nil},
		{"a group without peers probes its first size seeds", group, nil, seeds},
		{"a group with peers probes them", group, peers, peers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := candidates(tt.as, tt.peers); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("candidates = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExpectedSize(t *testing.T) {
	tests := []struct {
		name string
		p    spec.NodePayload
		want int
	}{
		{"static: the payload's members", spec.NodePayload{Members: []spec.Member{m("a"), m("b"), m("c")}}, 3},
		{"group: its size, not the members known", spec.NodePayload{Members: []spec.Member{m("a")}, Autoscaling: &spec.Autoscaling{Size: 5}}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expectedSize(&tt.p); got != tt.want {
				t.Errorf("expectedSize = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestMergeMembers(t *testing.T) {
	tests := []struct {
		name string
		a, b []spec.Member
		want []spec.Member
	}{
		{"adds members by name", []spec.Member{m("a", "10.0.0.1")}, []spec.Member{m("b", "10.0.0.2")}, []spec.Member{m("a", "10.0.0.1"), m("b", "10.0.0.2")}},
		{"keeps a's entry for a known name", []spec.Member{m("a", "10.0.0.1")}, []spec.Member{m("a", "10.0.0.9")}, []spec.Member{m("a", "10.0.0.1")}},
		{"skips unnamed (unstarted) members", []spec.Member{m("a", "10.0.0.1")}, []spec.Member{m("", "10.0.0.3")}, []spec.Member{m("a", "10.0.0.1")}},
		{"nothing found", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]spec.Member(nil), tt.a...)
			if got := mergeMembers(tt.a, tt.b); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mergeMembers = %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(tt.a, before) {
				t.Errorf("mergeMembers changed its input: %v", tt.a)
			}
		})
	}
}

func TestDNSFormation(t *testing.T) {
	listed := sortedByAddr([]spec.Member{m("c", "10.0.0.30"), m("a", "10.0.0.4"), m("d", "10.0.0.200"), m("b", "10.0.0.10")})
	if names := []string{listed[0].Name, listed[1].Name, listed[2].Name, listed[3].Name}; !reflect.DeepEqual(names, []string{"a", "b", "c", "d"}) {
		t.Fatalf("sortedByAddr = %v, want by address, not by text", names)
	}
	tests := []struct {
		name    string
		size    int
		running bool
		want    []string
	}{
		{"the lowest size addresses form the cluster", 3, false, []string{"a", "b", "c"}},
		{"a running cluster: every listed member", 3, true, []string{"a", "b", "c", "d"}},
		{"exactly size listed", 4, false, []string{"a", "b", "c", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, mm := range dnsFormation(listed, tt.size, tt.running) {
				got = append(got, mm.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("dnsFormation = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMembersFromSRV(t *testing.T) {
	p := &spec.NodePayload{Node: &spec.Member{Name: "etcd1", IPs: []string{"10.0.0.1"}}, Etcd: spec.Etcd{PeerPort: 2380}}
	n := newNode(p, 6)
	peer := func(host string, port uint16, ip string) discovery.Peer {
		return discovery.Peer{Host: host, Port: port, Addrs: []netip.Addr{netip.MustParseAddr(ip)}}
	}
	self := peer("node-a.etcd.example.", 2380, "10.0.0.1")
	two := peer("etcd2.etcd.example.", 2380, "10.0.0.2")
	tests := []struct {
		name    string
		peers   []discovery.Peer
		want    int
		members []spec.Member
		wantErr error
		errText string
	}{
		{"names are first labels, this node keeps its own name", []discovery.Peer{self, two}, 2,
			[]spec.Member{{Name: "etcd1", FQDN: "node-a.etcd.example", IPs: []string{"10.0.0.1"}}, {Name: "etcd2", FQDN: "etcd2.etcd.example", IPs: []string{"10.0.0.2"}}}, nil, ""},
		{"this node must be listed", []discovery.Peer{two}, 1, nil, ErrSelfNotListed, ""},
		{"too few listed yet", []discovery.Peer{self, two}, 3, nil, nil, "2 of 3 members are listed so far"},
		{"the peer port must match", []discovery.Peer{self, peer("etcd3.etcd.example.", 2379, "10.0.0.3")}, 2, nil, nil, "has port 2379, but etcd.peerPort is 2380"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := membersFromSRV(n, tt.peers, tt.want)
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr),
				tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)),
				tt.wantErr == nil && tt.errText == "" && err != nil:
				t.Fatalf("err = %v, want %v %q", err, tt.wantErr, tt.errText)
			}
			if !reflect.DeepEqual(got, tt.members) {
				t.Errorf("members = %+v, want %+v", got, tt.members)
			}
		})
	}
}
