package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Keys etcdboot keeps in the cluster itself.
const (
	// JoinLockKey serialises joins and upgrades: one learner, or one member
	// changing its etcd release, at a time.
	JoinLockKey = "/etcdboot/locks/join"
	// PendingPeersPrefix holds the addresses of members being added, so the
	// other members' firewalls let them in before they are added.
	PendingPeersPrefix = "/etcdboot/pending-peers/"
	// LearnerClaimsPrefix holds one key per learner whose joiner is alive
	// (the learner's ID in hex), under a lease kept alive by `up` and then
	// by `ready` until the promotion: a learner with a claim is coming up,
	// however slowly its etcd starts, and is never removed as a crashed
	// joiner's; one whose claim expired is.
	LearnerClaimsPrefix = "/etcdboot/learner-claims/"
	// LearnerClaimTTL covers the gap under systemd between `up` exiting and
	// etcd.service's `ready` taking the claim over, etcd's start included.
	LearnerClaimTTL = 60
)

// joiner holds the cluster-wide lock and its client: what a join keeps open
// from the membership step to promotion, and an upgrade from the version
// step to the health gate.
type joiner struct {
	cli     *clientv3.Client
	session *concurrency.Session
	mutex   *concurrency.Mutex
	id      uint64
	// claim is the lease of this learner's claim, kept alive until the
	// promotion; stopClaim stops the keep-alive.
	claim     clientv3.LeaseID
	stopClaim context.CancelFunc
}

// lockCluster takes the cluster-wide lock (JoinLockKey) through eps: joins
// and upgrades change one member at a time. A crashed holder's lease
// expires after 10 s and frees the lock.
func (a *Agent) lockCluster(ctx context.Context, eps []string, tlsConf *tls.Config) (*joiner, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		return nil, fmt.Errorf("connect to the running cluster: %w", err)
	}
	j := &joiner{cli: cli}
	if j.session, err = concurrency.NewSession(cli, concurrency.WithTTL(10)); err != nil {
		cli.Close()
		return nil, fmt.Errorf("cluster lock session: %w", err)
	}
	j.mutex = concurrency.NewMutex(j.session, JoinLockKey)
	a.log.Info("waiting for the cluster-wide lock", "key", JoinLockKey)
	lctx, cancel := context.WithTimeout(ctx, a.cfg.DiscoveryTimeout)
	defer cancel()
	if err := j.mutex.Lock(lctx); err != nil {
		j.mutex = nil
		j.release()
		return nil, fmt.Errorf("take the cluster-wide lock %s: %w", JoinLockKey, err)
	}
	return j, nil
}

func (j *joiner) release() {
	if j == nil {
		return
	}
	if j.stopClaim != nil {
		j.stopClaim()
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

// joined is what the membership step produced for a join.
type joined struct {
	// initialCluster is --initial-cluster: the members the join found.
	initialCluster string
	// joiner holds the join lock and client until the health gate promotes
	// the learner.
	joiner *joiner
}

// membership is the membership step: it adds a joining node to the cluster
// (join and rejoin plans) and returns what the join produced.
func (a *Agent) membership(ctx context.Context, n node, plan Plan, running *runningCluster) (joined, error) {
	if plan.Action != ActionJoin && plan.Action != ActionRejoin {
		return joined{}, nil
	}
	return a.join(ctx, n, running, plan.Action == ActionJoin)
}

// join takes the cluster-wide join lock, announces this node's address to
// the members' firewalls, removes stale members (this node's earlier life,
// dead members of a full group) when quorum survives, and adds this node as a
// learner. A rerun after a crash finds its learner (by the journal's ID or
// its peer URLs) and does not add a second one, when resumable: a rejoin
// moved a data dir aside that may hold that learner's log, so it removes the
// learner and adds a new one rather than come back under its ID with an
// empty log.
func (a *Agent) join(ctx context.Context, n node, running *runningCluster, resumable bool) (joined, error) {
	tlsConf, err := a.tlsFiles(n).ClientConfig()
	if err != nil {
		return joined{}, err
	}
	if a.metrics != nil {
		a.metrics.IncJoinAttempts()
	}
	j, err := a.lockCluster(ctx, running.endpoints, tlsConf)
	if err != nil {
		return joined{}, err
	}
	cli := j.cli
	ip := n.addrs[0]
	if _, err := cli.Put(ctx, PendingPeersPrefix+ip.String(), n.name(), clientv3.WithLease(j.session.Lease())); err != nil {
		return joined{}, fmt.Errorf("announce this node to the members' firewalls: %w", err)
	}
	ml, err := a.awaitOtherPromotions(ctx, n, cli)
	if err != nil {
		return joined{}, err
	}
	if m := n.ownLearner(ml.Members, a.journal.State.MemberID); m != nil && resumable {
		j.id = m.ID
		a.log.Info("resuming join: already added", "id", fmt.Sprintf("%x", m.ID))
	} else {
		answering, err := a.removeStale(ctx, n, cli, ml.Members)
		if err != nil {
			return joined{}, err
		}
		// The members' watchers let this node in before its learner exists.
		ports := peerPorts(ml.Members, answering, func(m *etcdserverpb.Member) bool { return m.Name == n.name() || n.hasPeerURL(m) })
		if took, left := awaitPeerAccess(ctx, ip, ports); len(left) > 0 {
			a.log.Warn("members' firewalls do not let this node in yet; adding the learner anyway", "unreachable", left, "waited", took)
		} else {
			a.log.Debug("every member's firewall lets this node in", "waited", took)
		}
		resp, err := a.addLearner(ctx, n, cli)
		if err != nil {
			return joined{}, fmt.Errorf("add this node as a learner: %w", err)
		}
		j.id = resp.Member.ID
		ml.Members = resp.Members
		a.log.Info("added as learner", "id", fmt.Sprintf("%x", j.id))
	}
	if err := a.claimLearner(ctx, n, j); err != nil {
		return joined{}, err
	}
	a.journal.State.MemberID = j.id
	a.journal.State.JoinEndpoints = running.endpoints
	a.journal.State.LearnerClaim = int64(j.claim)
	if err := a.journal.Save(); err != nil {
		return joined{}, err
	}
	out := joined{initialCluster: n.initialClusterOf(ml.Members), joiner: j}
	return out, a.updateFirewallPeers(n, n.membersOf(ml.Members))
}

// awaitOtherPromotions returns the member list once no other member is a
// started learner. Under systemd a joiner's lock ends with its `up` process,
// before etcd.service's health gate promotes it; the next joiner waits for
// that promotion, since etcd admits one learner at a time and its decision
// which dead voters to replace counts voters. A learner that does not
// answer is a crashed joiner's, which removeStale removes; this node's own
// learner is its earlier run's.
func (a *Agent) awaitOtherPromotions(ctx context.Context, n node, cli *clientv3.Client) (*clientv3.MemberListResponse, error) {
	var ml *clientv3.MemberListResponse
	err := a.whileOtherLearner(ctx, func() (bool, error) {
		var err error
		if ml, err = cli.MemberList(ctx); err != nil {
			return false, fmt.Errorf("member list: %w", err)
		}
		own := n.ownLearner(ml.Members, a.journal.State.MemberID)
		claimed, err := learnerClaims(ctx, cli)
		if err != nil {
			return false, err
		}
		return otherLearnerBlocks(ml.Members, own, claimed, func(m *etcdserverpb.Member) bool {
			return memberAnswers(ctx, cli, m.ClientURLs[0])
		}), nil
	})
	return ml, err
}

// addLearner adds this node as a learner. etcd admits one learner at a time
// (--max-learners, default 1): a learner that appeared since
// awaitOtherPromotions looked (a joiner whose lock expired) is waited for
// the same way.
func (a *Agent) addLearner(ctx context.Context, n node, cli *clientv3.Client) (*clientv3.MemberAddResponse, error) {
	var resp *clientv3.MemberAddResponse
	err := a.whileOtherLearner(ctx, func() (bool, error) {
		err := retryReconfig(ctx, func() (err error) {
			resp, err = cli.MemberAddAsLearner(ctx, n.peerURLs())
			if errors.Is(err, rpctypes.ErrMemberNotFound) {
				// Right after removing this node's earlier member, etcd
				// may answer the add with "member not found" until the
				// removal is applied everywhere: retried as a refusal
				// for now.
				return rpctypes.ErrUnhealthy
			}
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

// removeStale removes the members this join replaces (staleRemovals
// decides which), after asking each member whether it answers, and returns
// which answered.
func (a *Agent) removeStale(ctx context.Context, n node, cli *clientv3.Client, members []*etcdserverpb.Member) (map[uint64]bool, error) {
	health := map[uint64]bool{}
	for _, m := range members {
		health[m.ID] = len(m.ClientURLs) > 0 && memberAnswers(ctx, cli, m.ClientURLs[0])
	}
	groupSize := 0
	if as := n.payload.Autoscaling; as != nil {
		groupSize = as.Size
	}
	claimed, err := learnerClaims(ctx, cli)
	if err != nil {
		return nil, err
	}
	remove, refusal := staleRemovals(n.name(), n.peerURLs(), groupSize, members, health, claimed)
	for _, m := range remove {
		if err := removeMember(ctx, cli, m.ID); err != nil {
			return nil, fmt.Errorf("remove stale member %s (%x): %w", m.Name, m.ID, err)
		}
		a.log.Warn("removed stale member", "member", m.Name, "id", fmt.Sprintf("%x", m.ID))
	}
	return health, refusal
}

// retryReconfig retries a membership change while etcd refuses it because
// its leader has not been connected to every peer for long enough (a fresh
// leader, a peer that just came back): "etcdserver: unhealthy cluster".
// The waits back off from tens of milliseconds (most refusals clear at
// once) to a second, for about 30 s in all.
func retryReconfig(ctx context.Context, f func() error) error {
	b := backoff{next: 25 * time.Millisecond, most: time.Second}
	for start := time.Now(); ; {
		err := f()
		if err == nil || !errors.Is(err, rpctypes.ErrUnhealthy) || time.Since(start) > 30*time.Second || ctx.Err() != nil {
			return err
		}
		b.wait(ctx)
	}
}

// backoff is a wait that doubles from next up to most.
type backoff struct{ next, most time.Duration }

// wait sleeps the current wait, or until ctx ends, and doubles it.
func (b *backoff) wait(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(b.next):
	}
	b.next = min(2*b.next, b.most)
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
func (a *Agent) promote(ctx context.Context, j *joiner) error {
	if j == nil {
		return nil
	}
	defer j.release()
	deadline := time.Now().Add(a.cfg.HealthTimeout)
	// A learner is promotable once its log is near the leader's: tried
	// again within tens of milliseconds at first, not every half second.
	b := backoff{next: 50 * time.Millisecond, most: 500 * time.Millisecond}
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := j.cli.MemberPromote(pctx, j.id)
		cancel()
		if err == nil {
			a.log.Info("promoted to voting member", "id", fmt.Sprintf("%x", j.id), "attempts", attempt)
			j.dropClaim(ctx)
			return nil
		}
		if strings.Contains(err.Error(), "not a learner") || errors.Is(err, rpctypes.ErrMemberNotLearner) {
			j.dropClaim(ctx)
			return nil // promoted by an earlier run
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("promote learner %x after %d attempts: %w", j.id, attempt, err)
		}
		a.log.Debug("learner not ready to promote yet", "attempt", attempt, "err", err)
		b.wait(ctx)
	}
}

// claimLearner writes this learner's claim under a lease of its own (not the
// lock's session, which ends with `up`) and keeps it alive while this
// process lives or until the promotion drops it.
func (a *Agent) claimLearner(ctx context.Context, n node, j *joiner) error {
	lease, err := j.cli.Grant(ctx, LearnerClaimTTL)
	if err != nil {
		return fmt.Errorf("claim the learner: %w", err)
	}
	if _, err := j.cli.Put(ctx, LearnerClaimsPrefix+fmt.Sprintf("%x", j.id), n.name(), clientv3.WithLease(lease.ID)); err != nil {
		return fmt.Errorf("claim the learner: %w", err)
	}
	j.claim = lease.ID
	var kctx context.Context
	kctx, j.stopClaim = context.WithCancel(context.Background())
	if _, err := j.cli.KeepAlive(kctx, lease.ID); err != nil {
		return fmt.Errorf("keep the learner's claim alive: %w", err)
	}
	return nil
}

// dropClaim revokes the claim once the learner is a voter.
func (j *joiner) dropClaim(ctx context.Context) {
	if j.stopClaim != nil {
		j.stopClaim()
	}
	if j.claim != 0 {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, _ = j.cli.Revoke(rctx, j.claim)
	}
}

// learnerClaims lists the learners whose joiner's claim is alive.
func learnerClaims(ctx context.Context, cli *clientv3.Client) (map[uint64]bool, error) {
	resp, err := cli.Get(ctx, LearnerClaimsPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("read the learners' claims: %w", err)
	}
	claimed := map[uint64]bool{}
	for _, kv := range resp.Kvs {
		if id, err := strconv.ParseUint(strings.TrimPrefix(string(kv.Key), LearnerClaimsPrefix), 16, 64); err == nil {
			claimed[id] = true
		}
	}
	return claimed, nil
}
