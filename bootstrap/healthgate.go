package bootstrap

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// waitHealthy is the health gate: it waits until the member is live,
// promotes it if it is a learner (j is the join this run made, if any), then
// waits until it is ready and journals its ID. sup is the supervised etcd
// in exec mode, whose exit ends the wait early.
func (a *Agent) waitHealthy(ctx context.Context, n node, sup *Supervisor, j *joiner) error {
	tlsConf, err := a.tlsFiles(n).ClientConfig()
	if err != nil {
		return err
	}
	// A learner is alive before it is ready: promote it, then gate.
	if err := a.waitURL(ctx, LiveURL(n.clientURL(), n.minor), tlsConf, sup); err != nil {
		return err
	}
	id, err := a.promoteIfLearner(ctx, n, tlsConf, j)
	if err != nil {
		return err
	}
	url := HealthURL(n.clientURL(), n.minor)
	if err := a.waitURL(ctx, url, tlsConf, sup); err != nil {
		return err
	}
	a.journal.State.MemberID = id
	return nil
}

// etcdRestartDelay is etcd.service's RestartSec. Under systemd, an etcd
// that exits before it is ready (a joiner cut off from its peers as it
// starts cannot fetch the cluster's state, and exits) is started again by
// the unit's Restart=on-failure; in exec mode the supervisor does the same.
const etcdRestartDelay = 5 * time.Second

// waitURL waits for url to answer ready. In exec mode (sup not nil) an etcd
// that exits first is started again after etcdRestartDelay, as etcd.service
// would, until the health timeout leaves no room for another try.
func (a *Agent) waitURL(ctx context.Context, url string, tlsConf *tls.Config, sup *Supervisor) error {
	deadline := a.cfg.Now().Add(a.cfg.HealthTimeout)
	ready := make(chan error, 1)
	go func() { ready <- WaitReady(ctx, url, tlsConf, a.cfg.HealthTimeout) }()
	var exited <-chan error
	if sup != nil {
		exited = sup.Done()
	}
	for {
		select {
		case err := <-ready:
			return err
		case err := <-exited:
			if a.cfg.Now().Add(etcdRestartDelay).After(deadline) {
				return fmt.Errorf("etcd exited before it was ready (%v); see %s", err, sup.LogPath())
			}
			a.log.Warn("etcd exited before it was ready; starting it again, as etcd.service would", "err", err, "in", etcdRestartDelay, "log", sup.LogPath())
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(etcdRestartDelay):
			}
			if err := sup.Start(ctx); err != nil {
				return fmt.Errorf("start etcd again: %w", err)
			}
			exited = sup.Done()
		}
	}
}

// promoteIfLearner promotes this member when it is a learner: the one this
// run added (j), or one an earlier run or the `up` process before this
// health gate added. The request goes to the voting members the join
// journaled, since a learner serves none. It returns the member's ID.
func (a *Agent) promoteIfLearner(ctx context.Context, n node, tlsConf *tls.Config, j *joiner) (uint64, error) {
	if j != nil {
		return j.id, a.promote(ctx, j)
	}
	st, err := a.memberStatus(ctx, n, tlsConf)
	if err != nil {
		return 0, err
	}
	id := st.Header.MemberId
	if !st.IsLearner {
		return id, nil
	}
	eps := a.journal.State.JoinEndpoints
	if len(eps) == 0 {
		return 0, fmt.Errorf("member %x is a learner but the journal %s names no voting members to promote it: run etcdboot-agent up again", id, a.journal.path)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		return 0, fmt.Errorf("etcd client for %v: %w", eps, err)
	}
	return id, a.promote(ctx, &joiner{cli: cli, id: id, claim: clientv3.LeaseID(a.journal.State.LearnerClaim)})
}

// memberStatus asks this node's own member for its status, which a learner
// answers too.
func (a *Agent) memberStatus(ctx context.Context, n node, tlsConf *tls.Config) (*clientv3.StatusResponse, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.clientURL()}, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := cli.Status(sctx, n.clientURL())
	if err != nil {
		return nil, fmt.Errorf("member status: %w", err)
	}
	return st, nil
}

// keepJournaledClaim keeps the claim the journal names alive (the learner
// `up` added under systemd) through the join's endpoints; the returned func
// stops it. Nothing to keep is no error: a restart has no claim.
func (a *Agent) keepJournaledClaim(ctx context.Context, n node) (stop func()) {
	lease, eps := clientv3.LeaseID(a.journal.State.LearnerClaim), a.journal.State.JoinEndpoints
	if lease == 0 || len(eps) == 0 {
		return func() {}
	}
	tlsConf, err := a.tlsFiles(n).ClientConfig()
	if err != nil {
		a.log.Warn("learner claim not kept alive", "err", err)
		return func() {}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		a.log.Warn("learner claim not kept alive", "err", err)
		return func() {}
	}
	kctx, cancel := context.WithCancel(ctx)
	if _, err := cli.KeepAlive(kctx, lease); err != nil {
		a.log.Warn("learner claim not kept alive", "err", err)
	}
	return func() { cancel(); cli.Close() }
}
