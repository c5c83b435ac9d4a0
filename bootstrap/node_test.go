package bootstrap

import (
	"reflect"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcdboot/etcdboot/spec"
)

func testNode() node {
	p := &spec.NodePayload{Node: &spec.Member{Name: "etcd4", IPs: []string{"10.0.0.4"}}, Etcd: spec.Etcd{PeerPort: 2380, ClientPort: 2379}}
	return newNode(p, 6)
}

func TestSelfIn(t *testing.T) {
	n := testNode()
	tests := []struct {
		name    string
		members []*etcdserverpb.Member
		want    SelfState
	}{
		{"not listed", []*etcdserverpb.Member{member(1, "etcd1", "https://10.0.0.1:2380", false, true)}, SelfAbsent},
		{"listed by name, never started", []*etcdserverpb.Member{member(4, "etcd4", "https://10.0.0.9:2380", false, false)}, SelfUnstarted},
		{"listed by peer URL, never started", []*etcdserverpb.Member{member(4, "", "https://10.0.0.4:2380", true, false)}, SelfUnstarted},
		{"listed and started", []*etcdserverpb.Member{member(4, "etcd4", "https://10.0.0.4:2380", false, true)}, SelfStarted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := n.selfIn(tt.members); got != tt.want {
				t.Errorf("selfIn = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOwnLearner(t *testing.T) {
	n := testNode()
	byID := member(7, "", "https://10.0.0.4:2380", true, false)
	startedVoter := member(7, "etcd4", "https://10.0.0.4:2380", false, true)
	byURL := member(8, "", "https://10.0.0.4:2380", true, false)
	startedLearner := member(9, "etcd4", "https://10.0.0.4:2380", true, true)
	other := member(1, "", "https://10.0.0.1:2380", true, false)
	tests := []struct {
		name    string
		members []*etcdserverpb.Member
		knownID uint64
		want    *etcdserverpb.Member
	}{
		{"the journal's ID", []*etcdserverpb.Member{other, byID}, 7, byID},
		{"an unstarted learner with this node's peer URL", []*etcdserverpb.Member{other, byURL}, 0, byURL},
		{"a started member with this node's peer URL is not a learner to resume", []*etcdserverpb.Member{startedLearner}, 0, nil},
		{"another node's learner", []*etcdserverpb.Member{other}, 0, nil},
		{"the journal's ID on a started voter (a data dir lost after forming) is replaced, not resumed", []*etcdserverpb.Member{other, startedVoter}, 7, nil},
		{"the journal's ID gone", []*etcdserverpb.Member{other}, 7, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := n.ownLearner(tt.members, tt.knownID); got != tt.want {
				t.Errorf("ownLearner = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJoinMemberList(t *testing.T) {
	n := testNode()
	members := []*etcdserverpb.Member{
		member(2, "etcd2", "https://10.0.0.2:2380", false, true),
		member(1, "etcd1", "https://10.0.0.1:2380", false, true),
		member(4, "", "https://10.0.0.4:2380", true, false), // this node's learner
		member(5, "", "https://10.0.0.5:2380", true, false), // another unstarted member
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"initial cluster names this node's learner, leaves other unnamed ones out, sorted",
			n.initialClusterOf(members), "etcd1=https://10.0.0.1:2380,etcd2=https://10.0.0.2:2380,etcd4=https://10.0.0.4:2380"},
		{"peers keep every member, this node's learner by name",
			n.membersOf(members), []spec.Member{{Name: "etcd2", IPs: []string{"10.0.0.2"}}, {Name: "etcd1", IPs: []string{"10.0.0.1"}}, {Name: "etcd4", IPs: []string{"10.0.0.4"}}, {Name: "", IPs: []string{"10.0.0.5"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}
