package bootstrap

import (
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/spec"
)

// node is this member as the payload step found it: the payload (with its
// Node set, also for an autoscaling launch payload), its etcd minor version
// and its addresses. It is a value: no step changes it.
type node struct {
	payload *spec.NodePayload
	minor   int
	addrs   []netip.Addr
}

// newNode is the node of payload p, whose Node is set.
func newNode(p *spec.NodePayload, minor int) node {
	return node{payload: p, minor: minor, addrs: etcdconfig.NodeAddrs(*p.Node)}
}

func (n node) name() string { return n.payload.Node.Name }

func (n node) peerURLs() []string {
	return etcdconfig.PeerURLs(*n.payload.Node, n.payload.Etcd.PeerPort)
}

// clientURL is this member's own client URL, on its first address.
func (n node) clientURL() string { return etcdconfig.HostURL(n.addrs[0], n.payload.Etcd.ClientPort) }

// selfTarget is this node's SRV target: <name>.<domain> and its addresses.
func (n node) selfTarget() discovery.Target {
	return discovery.TargetFor(*n.payload.Node, n.payload.Discovery.DNS.Domain)
}

// hasPeerURL reports whether m has one of this node's peer URLs.
func (n node) hasPeerURL(m *etcdserverpb.Member) bool {
	own := n.peerURLs()
	return slices.ContainsFunc(m.PeerURLs, func(u string) bool { return slices.Contains(own, u) })
}

// findSelf finds this member by name or by peer URL.
func (n node) findSelf(members []*etcdserverpb.Member) *etcdserverpb.Member {
	for _, m := range members {
		if m.Name == n.name() || n.hasPeerURL(m) {
			return m
		}
	}
	return nil
}

// selfIn tells what the member list says about this node.
func (n node) selfIn(members []*etcdserverpb.Member) SelfState {
	m := n.findSelf(members)
	switch {
	case m == nil:
		return SelfAbsent
	case len(m.ClientURLs) == 0:
		// A member publishes its client URLs when it first starts; initial
		// members carry their name from --initial-cluster before that.
		return SelfUnstarted
	}
	return SelfStarted
}

// memberName is m's name; the unnamed entry with this node's peer URLs
// (its own unstarted learner) gets this node's name.
func (n node) memberName(m *etcdserverpb.Member) string {
	if m.Name == "" && n.hasPeerURL(m) {
		return n.name()
	}
	return m.Name
}

// membersOf turns a member list into spec members (name, peer IPs).
func (n node) membersOf(members []*etcdserverpb.Member) []spec.Member {
	var out []spec.Member
	for _, m := range members {
		sm := spec.Member{Name: n.memberName(m)}
		for _, u := range m.PeerURLs {
			if pu, err := url.Parse(u); err == nil {
				sm.IPs = append(sm.IPs, pu.Hostname())
			}
		}
		out = append(out, sm)
	}
	return out
}

// initialClusterOf formats --initial-cluster from a member list.
func (n node) initialClusterOf(members []*etcdserverpb.Member) string {
	var parts []string
	for _, m := range members {
		name := n.memberName(m)
		if name == "" {
			continue // another unstarted member; etcd takes the remote list
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// ownLearner finds the learner this node added in an earlier run and may
// resume: an unstarted learner with the journal's ID (knownID) or this
// node's peer URLs. A started member is never resumed, even with the
// journal's ID: its raft log lived in a data dir that is no longer here, and
// etcd panics when a member with its ID comes back with an empty log (the
// leader sends a commit index the new log does not have). A join replaces
// it instead.
func (n node) ownLearner(members []*etcdserverpb.Member, knownID uint64) *etcdserverpb.Member {
	for _, m := range members {
		if !m.IsLearner || len(m.ClientURLs) > 0 {
			continue
		}
		if (knownID != 0 && m.ID == knownID) || n.hasPeerURL(m) {
			return m
		}
	}
	return nil
}
