package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/internal/backupstore"
)

// QuorumProbeInterval is how often the watcher asks its member for a
// linearizable read, to learn whether a quorum still answers.
const QuorumProbeInterval = 5 * time.Second

// RequestGrace is how long reads must have failed before the watcher acts
// on an operator's recovery request: longer than a leader election and a
// member's own restart, so only a quorum that is really gone counts.
const RequestGrace = 15 * time.Second

// healthyRequestCheck is how often the watcher of a member that sees a
// quorum looks for a request anyway, only to say it ignores it.
const healthyRequestCheck = time.Minute

// ErrRunBootStepsAgain ends `etcdboot-agent watch` (systemd mode) when
// the watcher acts on an operator's recovery request or finds this member
// removed: the member must run the boot steps again with etcd stopped. The
// command exits with ExitRunBootStepsAgain, and etcdboot-watch.service's
// ExecStopPost then restarts etcdboot-agent.service, which etcd.service
// and the watcher require: etcd stops, `up` runs, etcd and the watcher
// start again.
var ErrRunBootStepsAgain = errors.New("this member must run the boot steps again")

// ExitRunBootStepsAgain is the exit status of `etcdboot-agent watch` that
// ended with ErrRunBootStepsAgain (EX_TEMPFAIL).
const ExitRunBootStepsAgain = 75

// errRecoveryRequested ends the exec-mode supervisor when the watcher acts
// on an operator's recovery request or finds this member removed: etcd is
// stopped and Up runs the boot steps again, which move the data dir aside
// and restore, or rejoin.
var errRecoveryRequested = errors.New("the watcher asked to run the boot steps again")

// requestSeen is what the watcher observed about an operator's recovery
// request.
type requestSeen struct {
	// Request is the one in the store; nil when there is none (or the
	// store was not asked).
	Request *backupstore.RecoveryRequest
	// Applied is the nonce of the request this member last acted on.
	Applied string
	// NoQuorumFor is how long this member's linearizable reads have
	// failed; 0 when the last one answered.
	NoQuorumFor time.Duration
	// Ignored is the nonce the watcher last said it ignores.
	Ignored string
	// Removed: the other members answer, with a quorum, a member list
	// without this member (asked only once NoQuorumFor passed the grace).
	Removed bool
}

// requestVerdict is what the watcher does about a recovery request.
type requestVerdict int

const (
	// requestNothing: no request stands for this member.
	requestNothing requestVerdict = iota
	// requestIgnore: a request stands, but a quorum answers (or has
	// failed too briefly to tell): acting would make a second cluster.
	// The watcher says so once per request.
	requestIgnore
	// requestAct: no quorum for RequestGrace and a request this member
	// has not acted on: run the boot steps again, which check once more
	// that no quorum answers before they move the data dir aside.
	requestAct
	// requestRejoin: the group removed this member while it was cut off
	// (its peers' firewalls shut it out since, so etcd never learns it):
	// run the boot steps again, whose plan moves the data dir aside and
	// rejoins.
	requestRejoin
)

// decideRequest is the watcher's decision on an operator's recovery
// request. It is pure.
func decideRequest(s requestSeen) requestVerdict {
	switch {
	case s.Removed && s.NoQuorumFor >= RequestGrace:
		return requestRejoin
	case s.Request == nil || s.Request.Nonce == s.Applied:
		return requestNothing
	case s.NoQuorumFor >= RequestGrace:
		return requestAct
	case s.Request.Nonce == s.Ignored:
		return requestNothing
	default:
		return requestIgnore
	}
}

// followRecoveryRequests is the watcher's part of `etcdboot recover` (a
// recovery request is acted on at the next boot, or here, without one),
// and it notices a member the group removed while it was cut off.
// Every QuorumProbeInterval it asks its member for a linearizable read;
// once reads have failed for RequestGrace it reads the request from the
// backup target and, if one stands that this member has not acted on,
// calls act (which stops etcd and runs the boot steps again); so it does
// when the other members list this member no more. While reads
// answer it looks only every healthyRequestCheck, to say that it ignores a
// standing request. It returns when ctx ends or after act.
func (a *Agent) followRecoveryRequests(ctx context.Context, n node, cli *clientv3.Client, tlsConf *tls.Config, act func(ctx context.Context, why string) error) {
	p := n.payload
	hasTarget := p.Backup != nil && p.Backup.Target != ""
	seen := requestSeen{}
	var failingSince, lastLook time.Time
	tick := time.NewTicker(QuorumProbeInterval)
	defer tick.Stop()
	for {
		now := a.cfg.Now()
		if a.quorumAnswers(ctx, cli) {
			failingSince, seen.NoQuorumFor = time.Time{}, 0
		} else if failingSince.IsZero() {
			failingSince = now
		} else {
			seen.NoQuorumFor = now.Sub(failingSince)
		}
		look := seen.NoQuorumFor >= RequestGrace || now.Sub(lastLook) >= healthyRequestCheck
		if look {
			lastLook = now
			seen.Request, seen.Removed = nil, false
			if hasTarget {
				seen.Request = a.readRecoveryRequest(ctx, n)
			}
			if seen.NoQuorumFor >= RequestGrace {
				seen.Removed = a.removedFromGroup(ctx, cli, tlsConf.Clone())
			}
			seen.Applied = a.journal.State.AppliedRecoveryRequest
			switch decideRequest(seen) {
			case requestRejoin:
				a.log.Warn("the group removed this member while it was cut off: stopping etcd to run the boot steps again and rejoin",
					"noQuorumFor", seen.NoQuorumFor.Round(time.Second))
				if err := act(ctx, "removed while cut off"); err != nil {
					a.log.Warn("watch: rejoin not started", "err", err)
				} else {
					return
				}
			case requestIgnore:
				a.log.Warn("recovery request ignored: this member read from a quorum within the last "+RequestGrace.String()+", so recovering here would make a second cluster",
					"request", seen.Request.Nonce, "backup", seen.Request.Backup)
				seen.Ignored = seen.Request.Nonce
			case requestAct:
				a.log.Warn("no quorum answers and the operator asked for a recovery: stopping etcd to run the boot steps again",
					"request", seen.Request.Nonce, "backup", seen.Request.Backup, "noQuorumFor", seen.NoQuorumFor.Round(time.Second))
				if err := act(ctx, "recovery request "+seen.Request.Nonce); err != nil {
					a.log.Warn("watch: recovery request not acted on", "err", err)
				} else {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// groupSeen is what this member last read of its group from its own
// member list, without a quorum: its ID, the cluster's, and the other
// members' client URLs.
type groupSeen struct {
	Self, Cluster uint64
	Others        []string
}

// readGroup reads groupSeen from this member (a serializable member list).
func readGroup(ctx context.Context, cli *clientv3.Client) (groupSeen, error) {
	rctx, cancel := context.WithTimeout(ctx, QuorumProbeInterval)
	defer cancel()
	local, err := cli.MemberList(rctx, clientv3.WithSerializable())
	if err != nil {
		return groupSeen{}, err
	}
	if local.Header == nil {
		return groupSeen{}, errors.New("member list without a header")
	}
	g := groupSeen{Self: local.Header.MemberId, Cluster: local.Header.ClusterId}
	for _, m := range local.Members {
		if m.ID != g.Self {
			g.Others = append(g.Others, m.ClientURLs...)
		}
	}
	return g, nil
}

// removedFromGroup reports whether the other members, asked through their
// client URLs (from this member's last member list, read without a
// quorum), answer for the same cluster with a quorum's member list that
// lacks this member. Any doubt is false.
func (a *Agent) removedFromGroup(ctx context.Context, cli *clientv3.Client, tlsConf *tls.Config) bool {
	g, err := readGroup(ctx, cli)
	if err != nil {
		return false
	}
	return droppedBy(ctx, g, tlsConf)
}

// droppedBy reports whether g's other members answer for g's cluster with
// a quorum's member list that lacks g.Self. Any doubt (nobody answers, no
// other member known, this member's ID unknown) is false.
func droppedBy(ctx context.Context, g groupSeen, tlsConf *tls.Config) bool {
	if g.Self == 0 || len(g.Others) == 0 {
		return false
	}
	rctx, cancel := context.WithTimeout(ctx, QuorumProbeInterval)
	defer cancel()
	ocli, err := clientv3.New(clientv3.Config{Endpoints: g.Others, TLS: tlsConf, DialTimeout: 2 * time.Second, Logger: nopZap()})
	if err != nil {
		return false
	}
	defer ocli.Close()
	ml, err := ocli.MemberList(rctx)
	if err != nil || ml.Header == nil || ml.Header.ClusterId != g.Cluster {
		// Another cluster on the peers' addresses (the group re-formed
		// from a backup) removed nobody: the recovery request decides.
		return false
	}
	for _, m := range ml.Members {
		if m.ID == g.Self {
			return false
		}
	}
	return true
}

// quorumAnswers reports whether this member serves a linearizable read,
// which needs a quorum.
func (a *Agent) quorumAnswers(ctx context.Context, cli *clientv3.Client) bool {
	rctx, cancel := context.WithTimeout(ctx, QuorumProbeInterval/2)
	defer cancel()
	_, err := cli.Get(rctx, "health", clientv3.WithCountOnly())
	return err == nil
}

// readRecoveryRequest returns the request standing in the payload's
// backup target, or nil when there is none or the store cannot be read
// now (said in the log; the next look tries again).
func (a *Agent) readRecoveryRequest(ctx context.Context, n node) *backupstore.RecoveryRequest {
	store, err := backupstore.Open(ctx, n.payload.Backup.Target)
	if err != nil {
		a.log.Warn("watch: backup target not readable for recovery requests", "err", err)
		return nil
	}
	defer store.Close()
	r, ok, err := store.ReadRecoveryRequest(ctx, n.payload.Cluster)
	if err != nil {
		a.log.Warn("watch: recovery request not readable", "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	return &r
}
