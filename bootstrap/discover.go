package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcdboot/etcdboot/bootstrap/firewall"
	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/spec"
)

// discover is the discovery step: it finds the member set the firewall and
// --initial-cluster use, and the running cluster if one answers.
//
// In DNS mode the agent reads the _etcd-server-ssl._tcp SRV records itself and
// builds --initial-cluster from them instead of handing etcd --discovery-srv:
// the firewall needs the peers' addresses before etcd starts, so the records
// are resolved here anyway; peer URLs stay https://IP:port as in static mode,
// so member IDs (hashed from peer URLs and token) and the data-dir ownership
// check are the same in every mode; and a bad record is reported by name
// before etcd runs instead of as an etcd bootstrap failure. A member's name
// is the first label of its SRV target, so targets are <name>.<domain>.
func (a *Agent) discover(ctx context.Context, n node) (discovered, error) {
	peers, err := a.findPeers(ctx, n)
	if err != nil {
		return discovered{}, err
	}
	// A running cluster (quorum and a member list) means join, not form:
	// unless this node's own data dir says restart, Decide will join.
	rc, err := a.probeCluster(ctx, n, addrsOf(candidates(n.payload.Autoscaling, peers)))
	if err != nil {
		return discovered{}, err
	}
	if rc != nil {
		peers = mergeMembers(peers, n.membersOf(rc.members))
	}
	return discovered{peers: peers, running: rc}, a.updateFirewallPeers(n, peers)
}

// runningMembers is the running cluster's member list; nil when none runs.
func (d discovered) runningMembers() []*etcdserverpb.Member {
	if d.running == nil {
		return nil
	}
	return d.running.members
}

// discovered is what the discovery step found.
type discovered struct {
	// peers are the members the firewall lets in and a forming cluster
	// starts with, merged with a running cluster's members.
	peers []spec.Member
	// running is the healthy cluster that answered, if any.
	running *runningCluster
}

// findPeers finds the members of the payload's discovery mode: the members
// a forming cluster starts with, and the candidates probed for a running one.
func (a *Agent) findPeers(ctx context.Context, n node) ([]spec.Member, error) {
	p := n.payload
	as := p.Autoscaling
	switch p.Discovery.Mode {
	case spec.DiscoveryStatic:
		if as != nil {
			return a.formFromSeeds(ctx, n)
		}
		return p.Members, nil
	case spec.DiscoveryDNS:
		if err := a.register(ctx, n); err != nil {
			return nil, err
		}
		if as != nil {
			return a.formFromDNS(ctx, n)
		}
		return a.lookupPeers(ctx, n)
	case spec.DiscoveryEtcd:
		if n.minor < 6 {
			return nil, fmt.Errorf("discovery.mode etcd needs etcd 3.6 or later, the payload says %s: use dns or static discovery", p.Etcd.Version)
		}
		return p.Members, a.checkToken(ctx, n)
	}
	return nil, fmt.Errorf("discovery.mode %q is not a discovery mode", p.Discovery.Mode)
}

// candidates are the addresses probed for a running cluster: the peers,
// or an autoscaling group's seeds when there are none. It is pure.
func candidates(as *spec.Autoscaling, peers []spec.Member) []spec.Member {
	if as != nil && len(peers) == 0 {
		return SeedMembers(as)
	}
	return peers
}

// isMember reports whether members name this node.
func isMember(members []spec.Member, name string) bool {
	return slices.ContainsFunc(members, func(m spec.Member) bool { return m.Name == name })
}

// formFromSeeds applies the seed rule: the first autoscaling.size seeds form
// the cluster; any other instance waits until a cluster answers, then joins.
func (a *Agent) formFromSeeds(ctx context.Context, n node) ([]spec.Member, error) {
	seeds := SeedMembers(n.payload.Autoscaling)
	if isMember(seeds, n.name()) {
		return seeds, nil
	}
	return seeds, a.waitForRunning(ctx, n, seeds)
}

// formFromDNS: every instance registered itself; once autoscaling.size are
// listed, the lowest size addresses form the cluster; others wait and join.
func (a *Agent) formFromDNS(ctx context.Context, n node) ([]spec.Member, error) {
	listed, err := a.lookupPeers(ctx, n)
	if err != nil {
		return nil, err
	}
	listed = sortedByAddr(listed)
	size := n.payload.Autoscaling.Size
	running := false
	if len(listed) > size {
		// More registered than the group's size: a cluster may run already.
		rc, _ := a.probeCluster(ctx, n, addrsOf(listed))
		running = rc != nil
	}
	peers := dnsFormation(listed, size, running)
	if running || isMember(peers, n.name()) {
		return peers, nil
	}
	return peers, a.waitForRunning(ctx, n, peers)
}

// sortedByAddr sorts members by their first address. It is pure.
func sortedByAddr(members []spec.Member) []spec.Member {
	out := slices.Clone(members)
	slices.SortFunc(out, func(x, y spec.Member) int {
		return addrsOf([]spec.Member{x})[0].Compare(addrsOf([]spec.Member{y})[0])
	})
	return out
}

// dnsFormation is the member set of an autoscaling group formed through
// DNS from the listed members (sorted by address): all of them when a
// cluster already runs, else the lowest size, which form it. It is pure.
func dnsFormation(listed []spec.Member, size int, running bool) []spec.Member {
	if running || len(listed) <= size {
		return listed
	}
	return listed[:size]
}

// waitForRunning waits until a cluster answers on one of the candidates.
func (a *Agent) waitForRunning(ctx context.Context, n node, candidates []spec.Member) error {
	a.log.Info("not an initial member: waiting for the cluster to join it")
	return retry(ctx, a, "waiting for a running cluster to join", func() error {
		rc, err := a.probeCluster(ctx, n, addrsOf(candidates))
		if err == nil && rc == nil {
			err = fmt.Errorf("no member of %v answers yet", addrsOf(candidates))
		}
		return err
	})
}

// updateFirewallPeers lets exactly peers (and no one else) reach the peer
// port, in one atomic swap of the nftables set.
func (a *Agent) updateFirewallPeers(n node, peers []spec.Member) error {
	if !n.payload.Firewall.IsEnabled() {
		return nil
	}
	if err := firewall.ReplacePeers(firewall.DefaultTable, addrsOf(peers)); err != nil {
		return fmt.Errorf("update the firewall's peer set: %w", err)
	}
	return nil
}

// mergeMembers is a plus the members of b not already in a (by name).
func mergeMembers(a, b []spec.Member) []spec.Member {
	out := slices.Clone(a)
	for _, m := range b {
		if m.Name != "" && !slices.ContainsFunc(out, func(x spec.Member) bool { return x.Name == m.Name }) {
			out = append(out, m)
		}
	}
	return out
}

// expectedSize is how many members a forming cluster waits for. It is pure.
func expectedSize(p *spec.NodePayload) int {
	if p.Autoscaling != nil {
		return p.Autoscaling.Size
	}
	return len(p.Members)
}

// lookupPeers reads the SRV records until they list the expected number of
// members and this node, retrying with backoff until DiscoveryTimeout.
func (a *Agent) lookupPeers(ctx context.Context, n node) ([]spec.Member, error) {
	d := n.payload.Discovery.DNS
	want := expectedSize(n.payload)
	deadline := a.cfg.Now().Add(a.cfg.DiscoveryTimeout)
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		peers, err := discovery.LookupSRV(ctx, d.Server, discovery.ServerService, d.Domain)
		var members []spec.Member
		if err == nil {
			members, err = membersFromSRV(n, peers, want)
		}
		if err == nil {
			return members, nil
		}
		if a.cfg.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("dns discovery of %s after %d attempts: %w", discovery.SRVName(discovery.ServerService, d.Domain), attempt, err)
		}
		a.log.Warn("dns discovery: retrying", "attempt", attempt, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// ErrSelfNotListed means the SRV records do not name this node.
var ErrSelfNotListed = errors.New("this node is not among the SRV targets")

// membersFromSRV turns SRV targets into members: a target's name is its
// first label, the target with one of this node's addresses is this node.
// It wants want members, this node among them, all on etcd's peer port. It
// is pure.
func membersFromSRV(n node, peers []discovery.Peer, want int) ([]spec.Member, error) {
	own := n.addrs
	var members []spec.Member
	self := false
	for _, p := range peers {
		if p.Port != uint16(n.payload.Etcd.PeerPort) {
			return nil, fmt.Errorf("SRV target %s has port %d, but etcd.peerPort is %d", p.Host, p.Port, n.payload.Etcd.PeerPort)
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(p.Host, "."), ".")
		m := spec.Member{Name: name, FQDN: strings.TrimSuffix(p.Host, ".")}
		for _, ip := range p.Addrs {
			m.IPs = append(m.IPs, ip.String())
			if slices.Contains(own, ip) {
				self = true
				m.Name = n.name()
			}
		}
		members = append(members, m)
	}
	if !self {
		return nil, fmt.Errorf("%w: %v are listed, this node is %v: add its record or register it", ErrSelfNotListed, hosts(peers), own)
	}
	if len(members) < want {
		return nil, fmt.Errorf("%d of %d members are listed so far (%v)", len(members), want, hosts(peers))
	}
	return members, nil
}

func hosts(peers []discovery.Peer) []string {
	var out []string
	for _, p := range peers {
		out = append(out, p.Host)
	}
	return out
}

// addrsOf returns the parsed addresses of members.
func addrsOf(members []spec.Member) []netip.Addr {
	var out []netip.Addr
	for _, m := range members {
		for _, s := range m.IPs {
			if ip, err := netip.ParseAddr(s); err == nil {
				out = append(out, ip)
			}
		}
	}
	return out
}

// register adds this node's A/AAAA and SRV records by a signed RFC 2136
// update when the payload carries an update key. It runs before the lookup,
// not after etcd starts: members of a cluster forming from an empty zone find
// each other only through the records they add themselves. It is idempotent,
// so a restarting member registers again and repairs a lost record.
func (a *Agent) register(ctx context.Context, n node) error {
	d := n.payload.Discovery.DNS
	if !d.Register || d.UpdateKey == nil {
		return nil
	}
	return retry(ctx, a, "dns registration", func() error {
		return discovery.Register(ctx, d.Server, *d.UpdateKey, d.Domain, n.selfTarget(),
			uint16(n.payload.Etcd.PeerPort), uint16(n.payload.Etcd.ClientPort), DNSRecordTTL)
	})
}

// DNSRecordTTL is the TTL of the records an agent registers.
const DNSRecordTTL = 60

// retry runs f with backoff until it succeeds or DiscoveryTimeout passes.
func retry(ctx context.Context, a *Agent, what string, f func() error) error {
	deadline := a.cfg.Now().Add(a.cfg.DiscoveryTimeout)
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		var stop backoffStop
		if errors.As(err, &stop) {
			return stop.err
		}
		if a.cfg.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s failed after %d attempts: %w", what, attempt, err)
		}
		a.log.Warn(what+": retrying", "attempt", attempt, "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// ErrTokenFull means the discovery token has all its members and this node
// is not one of them.
var ErrTokenFull = errors.New("discovery token is full")

// checkToken looks at the discovery token before etcd starts, so that a full
// token or a missing one is a clear error rather than an etcd exit status.
func (a *Agent) checkToken(ctx context.Context, n node) error {
	d := n.payload.Discovery.Etcd
	dc := discovery.TokenCluster{Endpoints: d.Endpoints, TLS: a.tlsFiles(n)}
	return retry(ctx, a, "etcd discovery", func() error {
		// Each attempt has its own deadline: a down endpoint must not hang.
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := discovery.GetTokenStatus(actx, dc, d.Token)
		if err != nil && actx.Err() != nil {
			return fmt.Errorf("discovery cluster %v does not answer: %w", d.Endpoints, err)
		}
		if err != nil {
			return err
		}
		for _, m := range st.Members {
			if m.Name == n.name() {
				return nil // registered already: a restart of a forming member
			}
		}
		if st.Full() {
			var names []string
			for _, m := range st.Members {
				names = append(names, m.Name)
			}
			return backoffStop{fmt.Errorf("%w: token %s on %v has its %d members (%s); this member (%s) cannot form a cluster with it: join the running cluster instead, or create a new token",
				ErrTokenFull, d.Token, d.Endpoints, st.Size, strings.Join(names, ", "), n.name())}
		}
		return nil
	})
}

// backoffStop wraps an error retrying cannot fix.
type backoffStop struct{ err error }

func (b backoffStop) Error() string { return b.err.Error() }
