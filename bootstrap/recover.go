package bootstrap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/spec"
)

// RecoveryDir is where a recovering member keeps the backup it downloaded,
// under the node's root.
const RecoveryDir = "/var/lib/etcdboot-recovery"

// RecoverySource is the backup a cluster forms from after a total loss.
type RecoverySource struct {
	// Backup is the backup's name in Target.
	Backup string `json:"backup"`
	Target string `json:"target"`
	// Snapshot is the downloaded, checked file (a path under the node's
	// root), SHA256 its digest.
	Snapshot string `json:"snapshot"`
	SHA256   string `json:"sha256"`
	Revision int64  `json:"revision"`
	Keys     int    `json:"keys"`
	// Token is the restored cluster's token: the payload's and the
	// backup's digest, the same on every member that picks this backup,
	// so the recovered cluster has a new ID that no member of the lost
	// one can join by mistake.
	Token string `json:"token"`
	// Skipped lists newer backups that failed their checks.
	Skipped []string `json:"skipped,omitempty"`
	// Request is the nonce of the operator's recovery request (etcdboot
	// recover) this restore answers; empty for an automatic recovery.
	Request string `json:"request,omitempty"`
}

// recoverySource is the recovery part of the plan step: for a member whose
// cluster lost everything (no member answers, its data dir is empty, the
// plan forms a new cluster) and whose payload says recovery.fromBackup:
// auto, it picks the backup to form from.
//
// Every member picks the same one without talking to the others: the
// newest verified backup of this cluster in the target (the listing is the
// same for all, nothing writes to it while the cluster is down), and when
// that one fails its checks (size, sha256, etcd's hash, revision and key
// count) the one before it, which every member finds the same way. It
// returns nil when there is no backup to form from.
func (a *Agent) recoverySource(ctx context.Context, n node) (*RecoverySource, error) {
	p := n.payload
	if !p.Recovery.Auto() || p.Backup == nil || p.Backup.Target == "" {
		return nil, nil
	}
	store, err := backupstore.Open(ctx, p.Backup.Target)
	if err != nil {
		return nil, fmt.Errorf("recovery.fromBackup auto: %w", err)
	}
	defer store.Close()
	l, err := store.List(ctx, p.Cluster)
	if err != nil {
		return nil, fmt.Errorf("recovery.fromBackup auto: list the backups of %s: %w", p.Cluster, err)
	}
	src := &RecoverySource{Target: store.Target()}
	for _, m := range l.Verified() {
		local := filepath.Join(RecoveryDir, m.Name+".db")
		if err := os.MkdirAll(a.path(RecoveryDir), 0o700); err != nil {
			return nil, fmt.Errorf("recovery: %w", err)
		}
		got, _, err := store.Fetch(ctx, m.Name, a.path(local), backupstore.Expect{Cluster: p.Cluster})
		if errors.Is(err, backupstore.ErrIntegrity) || errors.Is(err, backupstore.ErrIncomplete) || errors.Is(err, backupstore.ErrOtherCluster) {
			a.log.Warn("backup fails its checks; trying the one before it", "backup", m.Name, "err", err)
			if a.metrics != nil {
				a.metrics.IncRecoverySkipped()
			}
			src.Skipped = append(src.Skipped, m.Name)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("recovery.fromBackup auto: fetch %s: %w", m.Name, err)
		}
		src.Backup, src.Snapshot, src.SHA256 = got.Name, local, got.SHA256
		src.Revision, src.Keys = got.Revision, got.TotalKeys
		src.Token = fmt.Sprintf("%s-r%s", p.Token, got.SHA256[:12])
		return src, nil
	}
	if len(src.Skipped) > 0 {
		return nil, fmt.Errorf("recovery.fromBackup auto: every backup of %s in %s fails its checks (%v); nothing is restored and no empty cluster is formed over them: fix the store, or set recovery.fromBackup: never to form empty", p.Cluster, store.Target(), src.Skipped)
	}
	return nil, nil
}

// recoveryPlan is the plan of a member that forms its cluster from src. It
// is pure.
func recoveryPlan(src *RecoverySource) Plan {
	return Plan{Action: ActionRestore, ClusterState: "new", Recover: src,
		Reason: fmt.Sprintf("no member runs and the data dir is empty: the cluster forms from its newest good backup %s (revision %d, %d keys) in %s", src.Backup, src.Revision, src.Keys, src.Target)}
}

// restoreFromBackup restores this member from the plan's backup, with the
// recovered cluster's token, and journals it.
func (a *Agent) restoreFromBackup(n node, src *RecoverySource, peers []spec.Member) error {
	rp := *n.payload
	rp.Restore = &spec.Restore{Snapshot: src.Snapshot, SHA256: src.SHA256}
	rp.Token = src.Token
	if err := RestoreMember(&rp, a.cfg.Root, peers, a.log); err != nil {
		return err
	}
	a.journal.State.RestoredSHA256 = src.SHA256
	a.journal.State.RestoreToken = src.Token
	if src.Request != "" {
		a.journal.State.AppliedRecoveryRequest = src.Request
	}
	return a.journal.Save()
}

// recoveryRecord is what a recovered cluster writes to its target once a
// member of it is healthy.
type recoveryRecord struct {
	Cluster    string    `json:"cluster"`
	ClusterID  string    `json:"clusterID"`
	FromBackup string    `json:"fromBackup"`
	Revision   int64     `json:"revision"`
	Member     string    `json:"member"`
	At         time.Time `json:"at"`
}

// recordRecovery writes recoveries/<backup>.json to the target: the first
// healthy member of the recovered cluster writes it, the others find it.
func (a *Agent) recordRecovery(ctx context.Context, n node, src *RecoverySource, clusterID uint64) {
	store, err := backupstore.Open(ctx, n.payload.Backup.Target)
	if err != nil {
		a.log.Warn("recovery not recorded in the store", "err", err)
		return
	}
	defer store.Close()
	data, err := json.MarshalIndent(recoveryRecord{Cluster: n.payload.Cluster, ClusterID: fmt.Sprintf("%x", clusterID), FromBackup: src.Backup,
		Revision: src.Revision, Member: n.name(), At: a.cfg.Now().UTC()}, "", "  ")
	if err != nil {
		return
	}
	err = store.WriteObject(ctx, "recoveries/"+src.Backup+".json", append(data, '\n'), true)
	if err != nil && !errors.Is(err, backupstore.ErrExists) {
		a.log.Warn("recovery not recorded in the store", "err", err)
	}
}

// recordRecoveredCluster asks this member for the recovered cluster's ID
// and records the recovery in the store.
func (a *Agent) recordRecoveredCluster(ctx context.Context, n node, src *RecoverySource) {
	tlsConf, err := a.tlsFiles(n).ClientConfig()
	if err != nil {
		return
	}
	st, err := a.memberStatus(ctx, n, tlsConf)
	if err != nil || st.Header == nil {
		a.log.Warn("recovery not recorded in the store", "err", err)
		return
	}
	a.log.Info("cluster recovered from a backup", "backup", src.Backup, "cluster_id", fmt.Sprintf("%x", st.Header.ClusterId))
	a.recordRecovery(ctx, n, src, st.Header.ClusterId)
}

// requestedRecovery is the other recovery of the plan step: an operator's
// recovery request (etcdboot recover) for this cluster that this member has
// not acted on yet. It is only asked when no healthy quorum answered: a
// member that sees one ignores the request, so a partitioned minority
// cannot form a second cluster. Every member restores the same backup under
// the same token (the payload's and the request's nonce). It returns nil
// when there is no request to act on.
func (a *Agent) requestedRecovery(ctx context.Context, n node) (*RecoverySource, error) {
	p := n.payload
	if p.Backup == nil || p.Backup.Target == "" {
		return nil, nil
	}
	store, err := backupstore.Open(ctx, p.Backup.Target)
	if err != nil {
		return nil, fmt.Errorf("recovery request: %w", err)
	}
	defer store.Close()
	r, ok, err := store.ReadRecoveryRequest(ctx, p.Cluster)
	if err != nil || !ok {
		return nil, err
	}
	if r.Nonce == a.journal.State.AppliedRecoveryRequest {
		return nil, nil
	}
	local := filepath.Join(RecoveryDir, r.Backup+".db")
	if err := os.MkdirAll(a.path(RecoveryDir), 0o700); err != nil {
		return nil, fmt.Errorf("recovery request: %w", err)
	}
	m, _, err := store.Fetch(ctx, r.Backup, a.path(local), backupstore.Expect{Cluster: p.Cluster})
	if err != nil {
		return nil, fmt.Errorf("recovery request %s (etcdboot recover at %s) names backup %s: %w; nothing was changed: write a request for another backup", r.Nonce, r.At.Format(time.RFC3339), r.Backup, err)
	}
	return &RecoverySource{Backup: m.Name, Target: store.Target(), Snapshot: local, SHA256: m.SHA256, Revision: m.Revision, Keys: m.TotalKeys,
		Token: fmt.Sprintf("%s-q%s", p.Token, r.Nonce), Request: r.Nonce}, nil
}

// ignoredRequest says, for a member that sees a healthy quorum, whether an
// operator's recovery request stands and that it is ignored.
func (a *Agent) ignoredRequest(ctx context.Context, n node) {
	p := n.payload
	if p.Backup == nil || p.Backup.Target == "" {
		return
	}
	store, err := backupstore.Open(ctx, p.Backup.Target)
	if err != nil {
		return
	}
	defer store.Close()
	if r, ok, err := store.ReadRecoveryRequest(ctx, p.Cluster); err == nil && ok && r.Nonce != a.journal.State.AppliedRecoveryRequest {
		a.log.Warn("recovery request ignored: a healthy quorum of the cluster answers, so recovering here would make a second cluster",
			"request", r.Nonce, "backup", r.Backup)
	}
}

// recoveredPeerSource is for an initial member that boots after the others
// formed the cluster from a backup: the running cluster lists it unstarted
// under the ID the recovered cluster's token gives (id), not the payload's.
// It finds the backup whose token gives that ID (the operator's request's,
// or one of the verified backups an automatic recovery picks from) and
// returns it, so this member restores the same backup and starts as the
// member the others wait for. It returns nil when no source matches.
func (a *Agent) recoveredPeerSource(ctx context.Context, n node, id uint64) (*RecoverySource, error) {
	p := n.payload
	if p.Backup == nil || p.Backup.Target == "" {
		return nil, nil
	}
	store, err := backupstore.Open(ctx, p.Backup.Target)
	if err != nil {
		return nil, fmt.Errorf("find the backup the running cluster formed from: %w", err)
	}
	defer store.Close()
	fetch := func(name, token, nonce string) (*RecoverySource, error) {
		local := filepath.Join(RecoveryDir, name+".db")
		if err := os.MkdirAll(a.path(RecoveryDir), 0o700); err != nil {
			return nil, err
		}
		m, _, err := store.Fetch(ctx, name, a.path(local), backupstore.Expect{Cluster: p.Cluster})
		if err != nil {
			return nil, fmt.Errorf("fetch %s, the backup the running cluster formed from: %w", name, err)
		}
		return &RecoverySource{Backup: m.Name, Target: store.Target(), Snapshot: local, SHA256: m.SHA256, Revision: m.Revision,
			Keys: m.TotalKeys, Token: token, Request: nonce}, nil
	}
	if r, ok, err := store.ReadRecoveryRequest(ctx, p.Cluster); err == nil && ok {
		if token := fmt.Sprintf("%s-q%s", p.Token, r.Nonce); MemberID(n.peerURLs(), token) == id {
			return fetch(r.Backup, token, r.Nonce)
		}
	}
	if !p.Recovery.Auto() {
		return nil, nil
	}
	l, err := store.List(ctx, p.Cluster)
	if err != nil {
		return nil, fmt.Errorf("find the backup the running cluster formed from: %w", err)
	}
	for _, m := range l.Verified() {
		if token := fmt.Sprintf("%s-r%s", p.Token, m.SHA256[:12]); MemberID(n.peerURLs(), token) == id {
			return fetch(m.Name, token, "")
		}
	}
	return nil, nil
}
