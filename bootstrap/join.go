package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/etcdboot/etcdboot/spec"
)

// Keys etcdboot keeps in the cluster itself.
const (
	// JoinLockKey serialises joins: one learner at a time.
	JoinLockKey = "/etcdboot/locks/join"
	// PendingPeersPrefix holds the addresses of members being added, so the
	// other members' firewalls let them in before they are added.
	PendingPeersPrefix = "/etcdboot/pending-peers/"
)

// runningCluster is a healthy cluster the agent found.
type runningCluster struct {
	endpoints []string
	members   []*etcdserverpb.Member
}

// probeCluster asks the candidates' client ports for a member list; the
// first answer wins. A forming cluster without quorum does not answer.
func (a *Agent) probeCluster(ctx context.Context, candidates []netip.Addr) (*runningCluster, error) {
	self := a.nodeAddrs()
	var eps []string
	for _, ip := range candidates {
		if !slices.Contains(self, ip) {
			eps = append(eps, hostURL("https", ip, a.payload.Etcd.ClientPort))
		}
	}
	if len(eps) == 0 {
		return nil, nil
	}
	tlsConf, err := a.TLSFiles().ClientConfig()
	if err != nil {
		return nil, err
	}
	// Ask every candidate at once; a closed port costs a refused dial only.
	results := make(chan *runningCluster, len(eps))
	for _, ep := range eps {
		go func() { results <- probeEndpoint(ctx, ep, tlsConf) }()
	}
	var found *runningCluster
	for range eps {
		if rc := <-results; rc != nil && found == nil {
			found = rc
		}
	}
	return found, nil
}

func probeEndpoint(ctx context.Context, ep string, tlsConf *tls.Config) *runningCluster {
	u, err := url.Parse(ep)
	if err != nil {
		return nil
	}
	conn, err := net.DialTimeout("tcp", u.Host, 500*time.Millisecond)
	if err != nil {
		return nil
	}
	conn.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, TLS: tlsConf, DialTimeout: time.Second, Logger: nopZap()})
	if err != nil {
		return nil
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ml, err := cli.MemberList(pctx)
	if err != nil {
		return nil
	}
	rc := &runningCluster{members: ml.Members}
	for _, m := range ml.Members {
		if len(m.ClientURLs) > 0 && !m.IsLearner {
			rc.endpoints = append(rc.endpoints, m.ClientURLs...)
		}
	}
	return rc
}

// selfIn tells what the member list says about this node.
func (a *Agent) selfIn(members []*etcdserverpb.Member) (SelfState, *etcdserverpb.Member) {
	m := a.findSelf(members)
	switch {
	case m == nil:
		return SelfAbsent, nil
	case len(m.ClientURLs) == 0:
		// A member publishes its client URLs when it first starts; initial
		// members carry their name from --initial-cluster before that.
		return SelfUnstarted, m
	}
	return SelfStarted, m
}

// membersOf turns a member list into spec members (name, peer IPs); the
// unnamed entry with this node's peer URLs gets this node's name.
func (a *Agent) membersOf(members []*etcdserverpb.Member) []spec.Member {
	own := a.peerURLs()
	var out []spec.Member
	for _, m := range members {
		name := m.Name
		if name == "" && slices.ContainsFunc(m.PeerURLs, func(u string) bool { return slices.Contains(own, u) }) {
			name = a.payload.Node.Name
		}
		sm := spec.Member{Name: name}
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
func (a *Agent) initialClusterOf(members []*etcdserverpb.Member) string {
	own := a.peerURLs()
	var parts []string
	for _, m := range members {
		name := m.Name
		if name == "" && slices.ContainsFunc(m.PeerURLs, func(u string) bool { return slices.Contains(own, u) }) {
			name = a.payload.Node.Name
		}
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

// joiner holds what a join keeps open from the membership step to promotion.
type joiner struct {
	cli     *clientv3.Client
	session *concurrency.Session
	mutex   *concurrency.Mutex
	id      uint64
}

func (j *joiner) release() {
	if j == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if j.mutex != nil {
		_ = j.mutex.Unlock(ctx)
	}
	if j.session != nil {
		_ = j.session.Close()
	}
	j.cli.Close()
}

// join takes the cluster-wide join lock, announces this node's address to
// the members' firewalls, removes stale members (this node's earlier life,
// dead members of a full group) when quorum survives, and adds this node as a
// learner. A rerun after a crash finds its learner (by the journal's ID or
// its peer URLs) and does not add a second one.
func (a *Agent) join(ctx context.Context) error {
	tlsConf, err := a.TLSFiles().ClientConfig()
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: a.running.endpoints, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		return fmt.Errorf("connect to the running cluster: %w", err)
	}
	j := &joiner{cli: cli}
	a.joiner = j
	if a.metrics != nil {
		a.metrics.IncJoinAttempts()
	}
	// A crashed joiner's lease expires after the TTL and frees the lock.
	if j.session, err = concurrency.NewSession(cli, concurrency.WithTTL(10)); err != nil {
		return fmt.Errorf("join lock session: %w", err)
	}
	j.mutex = concurrency.NewMutex(j.session, JoinLockKey)
	a.log.Info("waiting for the join lock")
	lctx, cancel := context.WithTimeout(ctx, a.cfg.DiscoveryTimeout)
	defer cancel()
	if err := j.mutex.Lock(lctx); err != nil {
		return fmt.Errorf("take the join lock %s: %w", JoinLockKey, err)
	}
	ip := a.nodeAddrs()[0]
	if _, err := cli.Put(ctx, PendingPeersPrefix+ip.String(), a.payload.Node.Name, clientv3.WithLease(j.session.Lease())); err != nil {
		return fmt.Errorf("announce this node to the members' firewalls: %w", err)
	}
	ml, err := a.awaitOtherPromotions(ctx, cli)
	if err != nil {
		return err
	}
	if m := a.ownLearner(ml.Members); m != nil {
		j.id = m.ID
		a.log.Info("resuming join: already added", "id", fmt.Sprintf("%x", m.ID))
	} else {
		if err := a.removeStale(ctx, cli, ml.Members); err != nil {
			return err
		}
		// Give the members' watchers a moment to let this node in first.
		time.Sleep(1500 * time.Millisecond)
		resp, err := a.addLearner(ctx, cli)
		if err != nil {
			return fmt.Errorf("add this node as a learner: %w", err)
		}
		j.id = resp.Member.ID
		ml.Members = resp.Members
		a.log.Info("added as learner", "id", fmt.Sprintf("%x", j.id))
	}
	a.journal.State.MemberID = j.id
	a.journal.State.JoinEndpoints = a.running.endpoints
	if err := a.journal.Save(); err != nil {
		return err
	}
	a.joinInitialCluster = a.initialClusterOf(ml.Members)
	a.peers = a.membersOf(ml.Members)
	return a.updateFirewallPeers(a.peers)
}

// awaitOtherPromotions returns the member list once no other member is a
// started learner. Under systemd a joiner's lock ends with its `up` process,
// before etcd.service's health gate promotes it; the next joiner waits for
// that promotion, since etcd admits one learner at a time and its decision
// which dead voters to replace counts voters. A learner that does not
// answer is a crashed joiner's, which removeStale removes; this node's own
// learner is its earlier run's.
func (a *Agent) awaitOtherPromotions(ctx context.Context, cli *clientv3.Client) (*clientv3.MemberListResponse, error) {
	var ml *clientv3.MemberListResponse
	err := a.whileOtherLearner(ctx, func() (bool, error) {
		var err error
		if ml, err = cli.MemberList(ctx); err != nil {
			return false, fmt.Errorf("member list: %w", err)
		}
		own := a.ownLearner(ml.Members)
		other := slices.ContainsFunc(ml.Members, func(m *etcdserverpb.Member) bool {
			return m.IsLearner && m != own && len(m.ClientURLs) > 0 && memberAnswers(ctx, cli, m.ClientURLs[0])
		})
		return other && own == nil, nil
	})
	return ml, err
}

// addLearner adds this node as a learner. etcd admits one learner at a time
// (--max-learners, default 1): a learner that appeared since
// awaitOtherPromotions looked (a joiner whose lock expired) is waited for
// the same way.
func (a *Agent) addLearner(ctx context.Context, cli *clientv3.Client) (*clientv3.MemberAddResponse, error) {
	var resp *clientv3.MemberAddResponse
	err := a.whileOtherLearner(ctx, func() (bool, error) {
		err := retryReconfig(ctx, func() (err error) {
			resp, err = cli.MemberAddAsLearner(ctx, a.peerURLs())
			return err
		})
		if errors.Is(err, rpctypes.ErrTooManyLearners) {
			return true, nil
		}
		return false, err
	})
	return resp, err
}

// whileOtherLearner runs attempt each second while it reports another
// member's learner in the way, for at most DiscoveryTimeout, and says once
// that it waits.
func (a *Agent) whileOtherLearner(ctx context.Context, attempt func() (blocked bool, err error)) error {
	deadline := a.cfg.Now().Add(a.cfg.DiscoveryTimeout)
	for logged := false; ; {
		blocked, err := attempt()
		if err != nil || !blocked {
			return err
		}
		if a.cfg.Now().After(deadline) {
			return fmt.Errorf("another member stayed a learner for %v; promote or remove it (etcdctl member promote|remove)", a.cfg.DiscoveryTimeout)
		}
		if !logged {
			a.log.Info("another member is still a learner; waiting for its promotion")
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// ownLearner finds the member this node added in an earlier run: the
// journal's ID, or an unstarted member with this node's peer URLs.
func (a *Agent) ownLearner(members []*etcdserverpb.Member) *etcdserverpb.Member {
	urls := a.peerURLs()
	for _, m := range members {
		if a.journal.State.MemberID != 0 && m.ID == a.journal.State.MemberID {
			return m
		}
		if m.IsLearner && len(m.ClientURLs) == 0 && slices.ContainsFunc(m.PeerURLs, func(u string) bool { return slices.Contains(urls, u) }) {
			return m
		}
	}
	return nil
}

// removeStale removes members this join replaces: one with this node's name
// or peer URLs (its previous life on a wiped disk), learners that do not
// answer (crashed joiners'), and, for an autoscaling group already at its
// size, voters that do not answer. Each removal must
// leave the remaining healthy voters a quorum.
func (a *Agent) removeStale(ctx context.Context, cli *clientv3.Client, members []*etcdserverpb.Member) error {
	urls := a.peerURLs()
	health := map[uint64]bool{}
	voters, healthy := 0, 0
	for _, m := range members {
		ok := len(m.ClientURLs) > 0 && memberAnswers(ctx, cli, m.ClientURLs[0])
		health[m.ID] = ok
		if !m.IsLearner {
			voters++
			if ok {
				healthy++
			}
		}
	}
	var stale []*etcdserverpb.Member
	for _, m := range members {
		mine := m.Name == a.payload.Node.Name || slices.ContainsFunc(m.PeerURLs, func(u string) bool { return slices.Contains(urls, u) })
		if mine && len(m.ClientURLs) == 0 && !m.IsLearner {
			return fmt.Errorf("this node is an initial member that never started; it must start as one, not join")
		}
		if mine || (m.IsLearner && !health[m.ID]) {
			stale = append(stale, m)
		}
	}
	if as := a.payload.Autoscaling; as != nil && voters-len(stale) >= as.Size {
		for _, m := range members {
			if !m.IsLearner && !health[m.ID] && !slices.Contains(stale, m) {
				stale = append(stale, m)
				break // one dead member per join: the next joiner takes the next
			}
		}
	}
	for _, m := range stale {
		if health[m.ID] && !m.IsLearner {
			return fmt.Errorf("%w: member %s (%x) with this node's name or address still answers; is another instance using this address?", ErrQuorumAtRisk, m.Name, m.ID)
		}
		if !m.IsLearner {
			if healthy < (voters-1)/2+1 {
				return fmt.Errorf("%w: removing unreachable member %s would leave %d healthy of %d voters", ErrQuorumAtRisk, m.Name, healthy, voters-1)
			}
			voters--
		}
		if err := removeMember(ctx, cli, m.ID); err != nil {
			return fmt.Errorf("remove stale member %s (%x): %w", m.Name, m.ID, err)
		}
		a.log.Warn("removed stale member", "member", m.Name, "id", fmt.Sprintf("%x", m.ID))
	}
	return nil
}

func memberAnswers(ctx context.Context, cli *clientv3.Client, endpoint string) bool {
	// A dead member's closed port answers a plain dial at once.
	if u, err := url.Parse(endpoint); err == nil {
		conn, err := net.DialTimeout("tcp", u.Host, 500*time.Millisecond)
		if err != nil {
			return false
		}
		conn.Close()
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := cli.Status(sctx, endpoint)
	return err == nil
}

// retryReconfig retries a membership change while etcd refuses it because
// its leader has not been connected to every peer for long enough (a fresh
// leader, a peer that just came back): "etcdserver: unhealthy cluster".
func retryReconfig(ctx context.Context, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !errors.Is(err, rpctypes.ErrUnhealthy) || attempt >= 30 || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Second)
	}
}

// removeMember removes id; a member already gone is fine.
func removeMember(ctx context.Context, cli *clientv3.Client, id uint64) error {
	err := retryReconfig(ctx, func() error {
		_, err := cli.MemberRemove(ctx, id)
		return err
	})
	if errors.Is(err, rpctypes.ErrMemberNotFound) {
		return nil
	}
	return err
}

// promote makes this learner a voter once it has caught up, retrying while
// etcd says it is not in sync yet, then releases the join lock.
func (a *Agent) promote(ctx context.Context) error {
	j := a.joiner
	if j == nil {
		return nil
	}
	defer func() { j.release(); a.joiner = nil }()
	deadline := time.Now().Add(a.cfg.HealthTimeout)
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := j.cli.MemberPromote(pctx, j.id)
		cancel()
		if err == nil {
			a.log.Info("promoted to voting member", "id", fmt.Sprintf("%x", j.id), "attempts", attempt)
			return nil
		}
		if strings.Contains(err.Error(), "not a learner") || errors.Is(err, rpctypes.ErrMemberNotLearner) {
			return nil // promoted by an earlier run
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("promote learner %x after %d attempts: %w", j.id, attempt, err)
		}
		a.log.Info("learner not ready to promote yet", "attempt", attempt, "err", err)
		time.Sleep(500 * time.Millisecond)
	}
}
