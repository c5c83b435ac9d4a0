package backupstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RecoveryRequest asks every member of a cluster that lost its quorum to
// re-form it from one backup: an operator writes it (etcdboot recover),
// each agent reads it at boot. A member that still sees a healthy quorum
// ignores it, so a partitioned minority cannot make a second cluster.
type RecoveryRequest struct {
	Cluster string `json:"cluster"`
	// ClusterID is the cluster's etcd ID in hex when known, for the record.
	ClusterID string `json:"clusterID,omitempty"`
	// Backup is the name of the backup to form from.
	Backup string    `json:"backup"`
	At     time.Time `json:"at"`
	// Nonce tells requests apart: an agent acts on each nonce once.
	Nonce string `json:"nonce"`
}

// requestKey is where cluster's recovery request lives.
func requestKey(cluster string) string { return "recovery-requests/" + cluster + ".json" }

// NewNonce returns a random nonce for a recovery request.
func NewNonce() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("nonce: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// WriteRecoveryRequest writes r, replacing an earlier request of its cluster.
func (s *Store) WriteRecoveryRequest(ctx context.Context, r RecoveryRequest) error {
	if err := checkName(r.Backup); err != nil {
		return err
	}
	if r.Cluster == "" || r.Nonce == "" {
		return errors.New("recovery request: cluster and nonce are required")
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("recovery request: %w", err)
	}
	return s.WriteObject(ctx, requestKey(r.Cluster), append(data, '\n'), false)
}

// ReadRecoveryRequest reads cluster's recovery request; ok is false when
// there is none.
func (s *Store) ReadRecoveryRequest(ctx context.Context, cluster string) (r RecoveryRequest, ok bool, err error) {
	data, err := s.ReadObject(ctx, requestKey(cluster))
	if errors.Is(err, ErrNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, false, fmt.Errorf("backup target %s: %s: %w; write it again with etcdboot recover", s.target, requestKey(cluster), err)
	}
	if r.Cluster != cluster || r.Nonce == "" || checkName(r.Backup) != nil {
		return r, false, fmt.Errorf("backup target %s: %s names cluster %q, backup %q, nonce %q: not a request for %s; write it again with etcdboot recover", s.target, requestKey(cluster), r.Cluster, r.Backup, r.Nonce, cluster)
	}
	return r, true, nil
}
