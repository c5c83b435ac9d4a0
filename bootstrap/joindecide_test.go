package bootstrap

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

// member is an etcd member list entry for the join tests: started when it
// has client URLs.
func member(id uint64, name, peerURL string, learner, started bool) *etcdserverpb.Member {
	m := &etcdserverpb.Member{ID: id, Name: name, PeerURLs: []string{peerURL}, IsLearner: learner}
	if started {
		m.ClientURLs = []string{"https://" + peerURL[len("https://"):len(peerURL)-len(":2380")] + ":2379"}
	}
	return m
}

func ids(ms []*etcdserverpb.Member) []uint64 {
	var out []uint64
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func TestStaleRemovals(t *testing.T) {
	const self = "https://10.0.0.4:2380"
	v1 := member(1, "etcd1", "https://10.0.0.1:2380", false, true)
	v2 := member(2, "etcd2", "https://10.0.0.2:2380", false, true)
	v3 := member(3, "etcd3", "https://10.0.0.3:2380", false, true)
	oldSelf := member(4, "etcd4", self, false, true)
	oldSelfByURL := member(4, "", self, false, true)
	unstartedSelf := member(4, "etcd4", self, false, false)
	learner := member(5, "", "https://10.0.0.5:2380", true, true)
	v6 := member(6, "etcd6", "https://10.0.0.6:2380", false, true)
	tests := []struct {
		name      string
		groupSize int
		members   []*etcdserverpb.Member
		healthy   []uint64
		want      []uint64
		wantErr   error
		errText   string
	}{
		{"nothing stale", 0, []*etcdserverpb.Member{v1, v2, v3}, []uint64{1, 2, 3}, nil, nil, ""},
		{"this node's earlier life by name", 0, []*etcdserverpb.Member{v1, v2, v3, oldSelf}, []uint64{1, 2, 3}, []uint64{4}, nil, ""},
		{"this node's earlier life by peer URL", 0, []*etcdserverpb.Member{v1, v2, v3, oldSelfByURL}, []uint64{1, 2, 3}, []uint64{4}, nil, ""},
		{"a learner that does not answer", 0, []*etcdserverpb.Member{v1, v2, v3, learner}, []uint64{1, 2, 3}, []uint64{5}, nil, ""},
		{"a learner that answers stays", 0, []*etcdserverpb.Member{v1, v2, v3, learner}, []uint64{1, 2, 3, 5}, nil, nil, ""},
		{"an earlier life that still answers is refused", 0, []*etcdserverpb.Member{v1, v2, v3, oldSelf}, []uint64{1, 2, 3, 4}, nil, ErrQuorumAtRisk, "still answers"},
		{"an unstarted initial member must not join", 0, []*etcdserverpb.Member{v1, v2, unstartedSelf}, []uint64{1, 2}, nil, nil, "initial member that never started"},
		{"removal without quorum is refused", 0, []*etcdserverpb.Member{v1, v2, v3, oldSelf}, []uint64{1}, nil, ErrQuorumAtRisk, "1 healthy of 3 voters"},
		{"a dead voter of a full group is replaced", 3, []*etcdserverpb.Member{v1, v2, v3}, []uint64{1, 2}, []uint64{3}, nil, ""},
		{"one dead voter per join", 3, []*etcdserverpb.Member{v1, v2, v3, v6}, []uint64{1, 2}, []uint64{3}, nil, ""},
		{"a group below its size keeps its dead voter", 5, []*etcdserverpb.Member{v1, v2, v3}, []uint64{1, 2}, nil, nil, ""},
		{"without a group a dead voter stays", 0, []*etcdserverpb.Member{v1, v2, v3}, []uint64{1, 2}, nil, nil, ""},
		{"learner removed before the refusal", 3, []*etcdserverpb.Member{learner, v1, v2, v3, oldSelf}, []uint64{4}, []uint64{5}, ErrQuorumAtRisk, "still answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			health := map[uint64]bool{}
			for _, id := range tt.healthy {
				health[id] = true
			}
			got, err := staleRemovals("etcd4", []string{self}, tt.groupSize, tt.members, health, nil)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) || tt.errText == "" && err != nil || tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)) {
				t.Fatalf("err = %v, want %v %q", err, tt.wantErr, tt.errText)
			}
			if g := ids(got); !slices.Equal(g, tt.want) {
				t.Errorf("removes %v, want %v", g, tt.want)
			}
		})
	}
}

func TestOtherLearnerBlocks(t *testing.T) {
	v1 := member(1, "etcd1", "https://10.0.0.1:2380", false, true)
	other := member(2, "etcd2", "https://10.0.0.2:2380", true, true)
	unstarted := member(3, "", "https://10.0.0.3:2380", true, false)
	own := member(4, "", "https://10.0.0.4:2380", true, false)
	tests := []struct {
		name    string
		members []*etcdserverpb.Member
		own     *etcdserverpb.Member
		answers bool
		want    bool
	}{
		{"no learner", []*etcdserverpb.Member{v1}, nil, true, false},
		{"another started learner that answers blocks", []*etcdserverpb.Member{v1, other}, nil, true, true},
		{"a learner that does not answer is a crashed joiner's", []*etcdserverpb.Member{v1, other}, nil, false, false},
		{"an unstarted learner does not block", []*etcdserverpb.Member{v1, unstarted}, nil, true, false},
		{"this node's own learner resumes", []*etcdserverpb.Member{v1, other, own}, own, true, false},
		{"this node's own learner alone", []*etcdserverpb.Member{v1, own}, own, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := otherLearnerBlocks(tt.members, tt.own, nil, func(*etcdserverpb.Member) bool { return tt.answers })
			if got != tt.want {
				t.Errorf("otherLearnerBlocks = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAClaimedLearnerIsWaitedForNotRemoved: a learner whose joiner's claim is
// alive is still coming up (its etcd slow to start): it is neither removed
// as a crashed joiner's nor passed by the next joiner, which waits for its
// promotion. Once the claim expired, it is a crashed joiner's.
func TestAClaimedLearnerIsWaitedForNotRemoved(t *testing.T) {
	v1 := member(1, "etcd1", "https://10.0.0.1:2380", false, true)
	v2 := member(2, "etcd2", "https://10.0.0.2:2380", false, true)
	v3 := member(3, "etcd3", "https://10.0.0.3:2380", false, true)
	slow := member(5, "", "https://10.0.0.5:2380", true, false)
	members := []*etcdserverpb.Member{v1, v2, v3, slow}
	health := map[uint64]bool{1: true, 2: true, 3: true}
	claimed := map[uint64]bool{5: true}
	if got, err := staleRemovals("etcd4", []string{"https://10.0.0.4:2380"}, 0, members, health, claimed); err != nil || len(got) != 0 {
		t.Errorf("claimed learner: removes %v, %v; want none", ids(got), err)
	}
	if got, _ := staleRemovals("etcd4", []string{"https://10.0.0.4:2380"}, 0, members, health, nil); !slices.Equal(ids(got), []uint64{5}) {
		t.Errorf("expired claim: removes %v, want the learner", ids(got))
	}
	answers := func(*etcdserverpb.Member) bool { return false }
	if !otherLearnerBlocks(members, nil, claimed, answers) {
		t.Error("a claimed learner coming up does not make the next joiner wait")
	}
	if otherLearnerBlocks(members, nil, nil, answers) {
		t.Error("an unclaimed unstarted learner blocks")
	}
}
