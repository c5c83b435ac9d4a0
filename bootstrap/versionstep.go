package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/internal/upgrade"
	"github.com/etcdboot/etcdboot/spec"
)

// ErrVersionRefused means the etcd binary must not start on this node: the
// upgrade rules forbid it. Nothing was changed.
var ErrVersionRefused = errors.New("etcd version refused")

// ownEtcd is this member's etcd when it still runs as the agent starts (an
// agent restarted onto a new etcd binary while the old etcd serves).
type ownEtcd struct {
	id      uint64
	server  upgrade.Version
	storage upgrade.Version
	leader  bool
}

// observeOwnEtcd asks this node's own client URL for its status; nil when
// nothing answers there or it is another member.
func (a *Agent) observeOwnEtcd(ctx context.Context, n node) *ownEtcd {
	tlsConf, err := a.tlsFiles(n).ClientConfig()
	if err != nil {
		return nil
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.clientURL()}, TLS: tlsConf, DialTimeout: time.Second, Logger: nopZap()})
	if err != nil {
		return nil
	}
	defer cli.Close()
	if !memberAnswers(ctx, cli, n.clientURL()) {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := cli.Status(sctx, n.clientURL())
	if err != nil || st.Header == nil {
		return nil
	}
	own := &ownEtcd{id: st.Header.MemberId, leader: st.Leader == st.Header.MemberId}
	own.server, _ = upgrade.ParseVersion(st.Version)
	own.storage, _ = upgrade.ParseVersion(st.StorageVersion)
	return own
}

// versioned is what the version step produced.
type versioned struct {
	// binary is the release of the etcd binary that will run.
	binary upgrade.Version
	// lock is the cluster-wide lock an upgrade holds until the health gate
	// (in exec mode; under systemd `up` ends before etcd starts).
	lock *joiner
}

// checkVersion is the version step: it observes the etcd binary, the data
// dir and the running cluster, lets upgrade.Decide apply etcd's upgrade
// rules, and refuses (data dir untouched), starts, or upgrades: under the
// cluster-wide lock, waiting for the gate while this member's etcd still
// runs, with leadership moved away first. The decision is journaled.
func (a *Agent) checkVersion(ctx context.Context, n node, plan Plan, found discovered, own *ownEtcd) (versioned, error) {
	obs, err := a.observeVersions(ctx, n, plan, found, own)
	if err != nil {
		return versioned{}, err
	}
	d := upgrade.Decide(obs)
	for _, w := range d.Warnings {
		a.log.Warn(w)
	}
	if a.metrics != nil {
		a.metrics.SetEtcdVersion(obs.Binary.String(), len(d.Warnings) > 0)
	}
	out := versioned{binary: obs.Binary}
	switch d.Action {
	case upgrade.ActionRefuse:
		a.journalUpgrade(obs, d, UpgradeRefused)
		return out, fmt.Errorf("%w: %s; etcd was not started and the data dir is untouched", ErrVersionRefused, d.Reason)
	case upgrade.ActionStart:
		a.log.Info("etcd version", "binary", obs.Binary, "reason", d.Reason)
		return out, nil
	}
	eps := upgradeEndpoints(n, found, own)
	tlsConf, err := a.tlsFiles(n).ClientConfig()
	if err != nil {
		return out, err
	}
	a.setPhase(string(UpgradeWaiting))
	lock, err := a.lockCluster(ctx, eps, tlsConf)
	if err != nil {
		return out, err
	}
	// Under the lock, decide again until the gate opens.
	if d, obs, err = a.awaitUpgradeGate(ctx, n, plan, found, lock.cli, tlsConf, d); err != nil {
		lock.release()
		return out, err
	}
	if d.Action == upgrade.ActionRefuse {
		lock.release()
		a.journalUpgrade(obs, d, UpgradeRefused)
		return out, fmt.Errorf("%w: %s; etcd was not started and the data dir is untouched", ErrVersionRefused, d.Reason)
	}
	a.log.Info("upgrading etcd", "reason", d.Reason)
	if obs.SelfRunning && own != nil && own.leader {
		if err := moveLeaderAway(ctx, n, tlsConf, lock.cli, own.id); err != nil {
			lock.release()
			return out, err
		}
		a.log.Info("leadership moved away before the upgrade")
	}
	if err := a.journalUpgrade(obs, d, UpgradeStarted); err != nil {
		lock.release()
		return out, err
	}
	a.setPhase(string(UpgradeStarted))
	out.lock = lock
	return out, nil
}

// observeVersions gathers upgrade.Decide's inputs.
func (a *Agent) observeVersions(ctx context.Context, n node, plan Plan, found discovered, own *ownEtcd) (upgrade.Observed, error) {
	p := n.payload
	bin, err := upgrade.BinaryVersion(ctx, a.cfg.EtcdBinary)
	if err != nil {
		return upgrade.Observed{}, fmt.Errorf("%w: read the etcd binary's version: %w; the image must carry etcd at %s", ErrVersionRefused, err, a.cfg.EtcdBinary)
	}
	obs := upgrade.Observed{Binary: bin, Self: n.name(), SelfRunning: own != nil, V3Discovery: p.Discovery.Mode == spec.DiscoveryEtcd}
	if p.Etcd.Version != "" {
		obs.Payload, _ = upgrade.ParseVersion(p.Etcd.Version)
	}
	if last := a.journal.State.EtcdVersion; last != "" && a.journal.State.Token == p.Token {
		obs.LastRun, _ = upgrade.ParseVersion(last)
	}
	if own != nil {
		obs.LastRun = own.server
	}
	eps := upgradeEndpoints(n, found, own)
	if len(eps) > 0 {
		tlsConf, err := a.tlsFiles(n).ClientConfig()
		if err != nil {
			return obs, err
		}
		obs.Cluster = observeClusterAt(ctx, eps, tlsConf)
	}
	if plan.Action == ActionRestart {
		// Only a restart keeps its data dir; every other plan starts new data.
		if own != nil {
			obs.Data = ownDataVersion(own, obs.Cluster)
			if own.storage != obs.Data {
				obs.Storage = own.storage
			}
		} else if obs.Data, err = upgrade.DataVersion(a.path(p.Etcd.DataDir)); err != nil {
			return obs, fmt.Errorf("etcd.dataDir: %w", err)
		}
		if obs.Binary.Minor >= 7 && obs.Data.Minor < 7 {
			if obs.V2Entries, err = upgrade.V2Entries(a.path(p.Etcd.DataDir)); err != nil {
				return obs, fmt.Errorf("etcd.dataDir: %w", err)
			}
		}
	}
	return obs, nil
}

// ownDataVersion is what a running member's data dir holds: the storage
// version it reports (3.6+), raised to the cluster version its monitor will
// write outside a downgrade; the server's release on 3.5, which reports none.
// It is pure.
func ownDataVersion(own *ownEtcd, c *upgrade.Cluster) upgrade.Version {
	m := upgrade.Member{Server: own.server, Storage: own.storage}
	if c == nil {
		c = &upgrade.Cluster{}
	}
	return upgrade.LiveDataVersion(m, *c)
}

// upgradeEndpoints are the client URLs an upgrade asks: the running
// cluster's, and this member's own when its etcd still runs. It is pure.
func upgradeEndpoints(n node, found discovered, own *ownEtcd) []string {
	var eps []string
	if found.running != nil {
		eps = append(eps, found.running.endpoints...)
	}
	if own != nil && !slices.Contains(eps, n.clientURL()) {
		eps = append(eps, n.clientURL())
	}
	return eps
}

// observeClusterAt is upgrade.ObserveCluster through endpoints; nil when no
// member list comes back (no quorum: no availability to keep).
func observeClusterAt(ctx context.Context, eps []string, tlsConf *tls.Config) *upgrade.Cluster {
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: tlsConf, DialTimeout: 2 * time.Second, Logger: nopZap()})
	if err != nil {
		return nil
	}
	defer cli.Close()
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := upgrade.ObserveCluster(octx, cli, tlsConf)
	if err != nil {
		return nil
	}
	return c
}

// awaitUpgradeGate decides again, holding the lock, until the decision is
// no longer to wait; it says once what it waits for.
func (a *Agent) awaitUpgradeGate(ctx context.Context, n node, plan Plan, found discovered, cli *clientv3.Client, tlsConf *tls.Config, d upgrade.Decision) (upgrade.Decision, upgrade.Observed, error) {
	deadline := a.cfg.Now().Add(a.cfg.DiscoveryTimeout)
	backoff := 100 * time.Millisecond
	for logged := ""; ; {
		own := a.observeOwnEtcd(ctx, n)
		obs, err := a.observeVersions(ctx, n, plan, found, own)
		if err != nil {
			return d, obs, err
		}
		d = upgrade.Decide(obs)
		if d.Action != upgrade.ActionWait {
			return d, obs, nil
		}
		if a.cfg.Now().After(deadline) {
			return d, obs, fmt.Errorf("upgrade gate still closed after %v: %s", a.cfg.DiscoveryTimeout, d.Reason)
		}
		if d.Reason != logged {
			a.log.Info("upgrade waits", "reason", d.Reason)
			logged = d.Reason
		}
		select {
		case <-ctx.Done():
			return d, obs, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// moveLeaderAway hands leadership from self, the leader, to a started voter.
func moveLeaderAway(ctx context.Context, n node, tlsConf *tls.Config, cli *clientv3.Client, self uint64) error {
	ml, err := cli.MemberList(ctx)
	if err != nil {
		return fmt.Errorf("member list: %w", err)
	}
	// MoveLeader must reach the leader: this member, through its own URL.
	lcli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.clientURL()}, TLS: tlsConf, DialTimeout: 2 * time.Second, Logger: nopZap()})
	if err != nil {
		return fmt.Errorf("connect to this member: %w", err)
	}
	defer lcli.Close()
	for _, m := range ml.Members {
		if m.ID == self || m.IsLearner || len(m.ClientURLs) == 0 {
			continue
		}
		mctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := lcli.MoveLeader(mctx, m.ID)
		cancel()
		if err == nil {
			return nil
		}
		return fmt.Errorf("move leadership to %s before the upgrade: %w", m.Name, err)
	}
	return errors.New("move leadership before the upgrade: no other started voter")
}

// journalUpgrade records an upgrade decision in phase; a refusal or a start
// is a new record, later phases update the last one.
func (a *Agent) journalUpgrade(obs upgrade.Observed, d upgrade.Decision, phase UpgradePhase) error {
	rec := UpgradeRecord{To: obs.Binary.String(), Phase: phase, Reason: d.Reason, Started: a.cfg.Now().UTC()}
	if !obs.LastRun.IsZero() {
		rec.From = obs.LastRun.String()
	} else if !obs.Data.IsZero() {
		rec.From = obs.Data.MinorString()
	}
	a.journal.State.Upgrades = appendUpgrade(a.journal.State.Upgrades, rec)
	return a.journal.Save()
}

// finishUpgrade marks the journal's last upgrade done and releases its lock,
// once the member passed the health gate on the new binary.
func (a *Agent) finishUpgrade(v versioned) error {
	if v.lock == nil {
		return nil
	}
	defer v.lock.release()
	ups := a.journal.State.Upgrades
	if len(ups) > 0 && ups[len(ups)-1].Phase == UpgradeStarted {
		ups[len(ups)-1].Phase, ups[len(ups)-1].Done = UpgradeDone, a.cfg.Now().UTC()
	}
	a.log.Info("etcd upgraded", "to", v.binary)
	return a.journal.Save()
}

// appendUpgrade keeps the newest ten records. It is pure.
func appendUpgrade(recs []UpgradeRecord, r UpgradeRecord) []UpgradeRecord {
	recs = append(slices.Clone(recs), r)
	if len(recs) > 10 {
		recs = recs[len(recs)-10:]
	}
	return recs
}
