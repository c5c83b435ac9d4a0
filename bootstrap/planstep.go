package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"

	"github.com/etcdboot/etcdboot/spec"
)

// decide is the plan step: it observes the data dir, the journal and the
// running cluster discovery found, lets Decide choose, and journals the
// plan. When none of the payload's candidates answered, it asks the members
// the data dir remembers (see rememberedAddrs). A resumed join waits for the
// running cluster it needs. It returns the plan with what was found, the
// running cluster included.
//
// When this member's etcd still runs (own: an agent restarted onto a new
// etcd binary), its data dir is locked; the member answering with this
// member's ID on its own URL says whose it is.
func (a *Agent) decide(ctx context.Context, n node, found discovered, prev JournalState, own *ownEtcd) (Plan, discovered, error) {
	p := n.payload
	dataDir := a.path(p.Etcd.DataDir)
	var rep DataDirReport
	if own != nil && (own.id == a.journal.State.MemberID || own.id == MemberID(n.peerURLs(), p.Token)) {
		rep.State = DataDirOurs
	} else {
		var err error
		token := p.Token
		if rt := a.journal.State.RestoreToken; rt != "" && a.journal.State.Token == p.Token {
			token = rt // recovered from a backup under the recovered cluster's token
		}
		if rep, err = InspectDataDir(dataDir, n.name(), n.peerURLs(), token, a.journal.State.MemberID); err != nil {
			return Plan{}, found, fmt.Errorf("etcd.dataDir %s: %w", dataDir, err)
		}
	}
	if found.running == nil {
		var err error
		if found, err = a.askRemembered(ctx, n, found, rep.Members); err != nil {
			return Plan{}, found, err
		}
	}
	self := SelfUnknown
	if found.running != nil {
		self = n.selfIn(found.running.members)
	}
	plan, err := Decide(observe(rep, p.Restore, a.journal.State, prev, p.Token, found.running != nil, self))
	if err != nil {
		return Plan{}, found, fmt.Errorf("etcd.dataDir %s: %w", dataDir, err)
	}
	if listed := n.findSelf(found.runningMembers()); listed != nil && listedUnderAnotherID(plan.Action, self, listed.ID, MemberID(n.peerURLs(), p.Token), ownDataDirID(rep, own, n, a.journal.State.MemberID)) {
		// The others formed the cluster from a backup: restore the same one.
		src, err := a.recoveredPeerSource(ctx, n, listed.ID)
		if err != nil {
			return Plan{}, found, err
		}
		if src != nil {
			moveAside := rep.State != DataDirEmpty || own != nil
			plan = recoveryPlan(src)
			plan.MoveAside = moveAside
			plan.Reason = fmt.Sprintf("the running cluster formed from backup %s and lists this member unstarted: restore the same backup to start as that member", src.Backup)
			if moveAside {
				plan.Reason += ", moving this member's older data dir aside"
			}
		}
	}
	if found.running != nil {
		a.ignoredRequest(ctx, n)
	} else if src, err := a.requestedRecovery(ctx, n); err != nil {
		return Plan{}, found, err
	} else if src != nil {
		plan = recoveryPlan(src)
		plan.MoveAside = rep.State != DataDirEmpty
		plan.Reason = fmt.Sprintf("no healthy quorum answers and the operator asked for a recovery (request %s): move the data dir aside and form from backup %s (revision %d, %d keys)",
			src.Request, src.Backup, src.Revision, src.Keys)
		a.journal.State.Plan = &plan
		a.log.Info("plan", "action", plan.Action, "reason", plan.Reason)
		return plan, found, nil
	}
	if plan.Action == ActionNew && rep.State == DataDirEmpty && found.running == nil && p.Recovery.Auto() {
		src, err := a.recoverySource(ctx, n)
		if err != nil {
			return Plan{}, found, err
		}
		if src != nil {
			plan = recoveryPlan(src)
		}
	}
	if needsRunningCluster(plan, found.running != nil) {
		// Resuming a join while the cluster does not answer yet: wait for it.
		if err := retry(ctx, a, "finding the running cluster to resume the join", func() error {
			rc, err := a.probeCluster(ctx, n, addrsOf(candidates(p.Autoscaling, found.peers)))
			if err == nil && rc == nil {
				err = errors.New("no member answers yet")
			}
			found.running = rc
			return err
		}); err != nil {
			return Plan{}, found, err
		}
	}
	a.journal.State.Plan = &plan
	a.log.Info("plan", "action", plan.Action, "reason", plan.Reason)
	return plan, found, nil
}

// askRemembered looks for the running cluster at the members the data dir
// lists (stored) that discovery did not ask, as etcd itself finds its peers
// on a restart. It matters when every candidate of the payload is gone: an
// autoscaling group whose seed instances were all replaced on new addresses,
// and a member of it that left and boots again with its disk. A cluster
// found there is merged into the firewall's peers like one discovery found.
func (a *Agent) askRemembered(ctx context.Context, n node, found discovered, stored []StoredMember) (discovered, error) {
	addrs := rememberedAddrs(stored, addrsOf(candidates(n.payload.Autoscaling, found.peers)))
	if len(addrs) == 0 {
		return found, nil
	}
	rc, err := a.probeCluster(ctx, n, addrs)
	if err != nil || rc == nil {
		return found, err
	}
	a.log.Info("found the running cluster at members the data dir remembers", "asked", addrs)
	found.running = rc
	found.peers = mergeMembers(found.peers, n.membersOf(rc.members))
	return found, a.updateFirewallPeers(n, found.peers)
}

// rememberedAddrs are the addresses in the peer URLs of the members a data
// dir lists, but for those already asked, in the order listed. A peer URL
// whose host is a name, not an address, is passed over. It is pure.
func rememberedAddrs(stored []StoredMember, asked []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, m := range stored {
		for _, pu := range m.PeerURLs {
			u, err := url.Parse(pu)
			if err != nil {
				continue
			}
			ip, err := netip.ParseAddr(u.Hostname())
			if err != nil || slices.Contains(asked, ip) || slices.Contains(out, ip) {
				continue
			}
			out = append(out, ip)
		}
	}
	return out
}

// observe gathers what Decide looks at: the data dir's report, the
// payload's restore section against the journal (st, this run's; prev, as
// the previous run left it, for an unfinished action of the same cluster
// token) and what the running cluster, if any, says about this node
// (self). It is pure.
func observe(rep DataDirReport, restore *spec.Restore, st, prev JournalState, token string, running bool, self SelfState) Observed {
	obs := Observed{DataDir: rep.State, DataDirDetail: rep.Detail}
	if restore != nil {
		obs.Restore, obs.RestoreDone = true, st.RestoredSHA256 == restore.SHA256
	}
	obs.Journaled = journaledAction(prev, token)
	if running {
		obs.ClusterRunning = true
		obs.Self = self
	}
	return obs
}

// journaledAction is the action of an unfinished earlier run for the
// cluster with token, or "" when the previous run finished (it passed the
// health gate), planned nothing, or was for another token. It is pure.
func journaledAction(prev JournalState, token string) Action {
	if prev.Plan != nil && prev.Token == token && !containsStep(prev.Done, StepHealthy) {
		return prev.Plan.Action
	}
	return ""
}

// needsRunningCluster reports whether plan must wait for a running cluster
// before it goes on: a join or rejoin resumed while none answered. It is
// pure.
func needsRunningCluster(plan Plan, running bool) bool {
	return (plan.Action == ActionJoin || plan.Action == ActionRejoin) && !running
}

func containsStep(done []StepRecord, s Step) bool {
	for _, r := range done {
		if r.Step == s {
			return true
		}
	}
	return false
}

// listedUnderAnotherID reports whether a running cluster lists this node
// unstarted under an ID (listed) that is neither the one its payload's
// token gives (payloadID, for a new member) nor its data dir's (dataDirID,
// for a restart): the others formed the cluster from a backup, under the
// recovered token, while this member was away (booting late, or a
// survivor of the quorum loss still running on the old data). It is pure.
func listedUnderAnotherID(action Action, self SelfState, listed, payloadID, dataDirID uint64) bool {
	if self != SelfUnstarted {
		return false
	}
	switch action {
	case ActionNew:
		return listed != payloadID
	case ActionRestart:
		return dataDirID != 0 && listed != dataDirID
	}
	return false
}

// ownDataDirID is the member ID this node's data dir holds: its running
// etcd's, the entry of the data dir's member list with this node's name
// or peer URLs, or the journal's; 0 when none says.
func ownDataDirID(rep DataDirReport, own *ownEtcd, n node, journaled uint64) uint64 {
	if own != nil {
		return own.id
	}
	for _, m := range rep.Members {
		if m.Name == n.name() {
			return m.ID
		}
	}
	return journaled
}
