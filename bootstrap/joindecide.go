package bootstrap

import (
	"fmt"
	"slices"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

// otherLearnerBlocks reports whether another member's learner keeps this
// join waiting: a started learner that answers (answers asks it), or one
// whose joiner's claim is alive (claimed: a learner still coming up, its
// etcd slow to start), unless this node's own learner (own) is already in
// the list, since then the join only resumes. A learner that neither
// answers nor is claimed is a crashed joiner's, which staleRemovals removes.
// It is pure but for answers.
func otherLearnerBlocks(members []*etcdserverpb.Member, own *etcdserverpb.Member, claimed map[uint64]bool, answers func(*etcdserverpb.Member) bool) bool {
	other := slices.ContainsFunc(members, func(m *etcdserverpb.Member) bool {
		return m.IsLearner && m != own && (claimed[m.ID] || len(m.ClientURLs) > 0 && answers(m))
	})
	return other && own == nil
}

// staleRemovals decides which members a join removes, in order: one with
// this node's name or peer URLs (its previous life on a wiped disk),
// learners that do not answer and whose joiner's claim has expired (crashed
// joiners'; claimed lists the live claims), and, for an autoscaling
// group of groupSize (0: not a group) already at its size, one voter that
// does not answer. health says which members answer. Each removal must
// leave the remaining healthy voters a quorum: the members before the first
// removal that would not are returned with the refusal. It is pure.
func staleRemovals(name string, peerURLs []string, groupSize int, members []*etcdserverpb.Member, health, claimed map[uint64]bool) ([]*etcdserverpb.Member, error) {
	voters, healthy := 0, 0
	for _, m := range members {
		if !m.IsLearner {
			voters++
			if health[m.ID] {
				healthy++
			}
		}
	}
	var stale []*etcdserverpb.Member
	for _, m := range members {
		mine := m.Name == name || slices.ContainsFunc(m.PeerURLs, func(u string) bool { return slices.Contains(peerURLs, u) })
		if mine && len(m.ClientURLs) == 0 && !m.IsLearner {
			return nil, fmt.Errorf("this node is an initial member that never started; it must start as one, not join")
		}
		if mine || (m.IsLearner && !health[m.ID] && !claimed[m.ID]) {
			stale = append(stale, m)
		}
	}
	if groupSize > 0 && voters-len(stale) >= groupSize {
		for _, m := range members {
			if !m.IsLearner && (!health[m.ID] || skipQuorumGuard) && !slices.Contains(stale, m) {
				stale = append(stale, m)
				break // one dead member per join: the next joiner takes the next
			}
		}
	}
	if skipQuorumGuard {
		return stale, nil
	}
	for i, m := range stale {
		if health[m.ID] && !m.IsLearner {
			return stale[:i], fmt.Errorf("%w: member %s (%x) with this node's name or address still answers; is another instance using this address?", ErrQuorumAtRisk, m.Name, m.ID)
		}
		if !m.IsLearner {
			if healthy < (voters-1)/2+1 {
				return stale[:i], fmt.Errorf("%w: removing unreachable member %s would leave %d healthy of %d voters", ErrQuorumAtRisk, m.Name, healthy, voters-1)
			}
			voters--
		}
	}
	return stale, nil
}
