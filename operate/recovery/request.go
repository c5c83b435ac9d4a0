package recovery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/status"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/spec"
)

// Latest picks the newest verified backup.
const Latest = "latest"

// Options is what a recovery request needs.
type Options struct {
	// SpecPath is the cluster spec: its name, backup.target and members.
	SpecPath string
	// PKIDir holds the admin certificate the quorum check uses.
	PKIDir string
	// From is Latest or a backup's name.
	From string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Result is the request written.
type Result struct {
	Request backupstore.RecoveryRequest `json:"request"`
	Target  string                      `json:"target"`
}

// ErrQuorumAnswers means the cluster still has a healthy quorum: recovering
// it from a backup would throw away what it holds since.
var ErrQuorumAnswers = errors.New("a quorum of the cluster answers")

// Request checks that no quorum answers, picks and checks the backup, and
// writes the recovery request into the cluster's backup target.
func Request(ctx context.Context, o Options) (Result, error) {
	c, _, err := spec.LoadCluster(o.SpecPath)
	if err != nil {
		return Result{}, err
	}
	if c.Backup == nil || c.Backup.Target == "" {
		return Result{}, fmt.Errorf("%s: backup.target is not set: a recovery forms the cluster from a backup in the store; set it, or restore by hand (etcdboot restore plan)", o.SpecPath)
	}
	if eps := status.EndpointsFromCluster(c); len(eps) > 0 {
		if err := noQuorum(ctx, eps, o.PKIDir); err != nil {
			return Result{}, err
		}
	}
	store, err := backupstore.Open(ctx, c.Backup.Target)
	if err != nil {
		return Result{}, err
	}
	defer store.Close()
	name := o.From
	if name == "" || name == Latest {
		l, err := store.List(ctx, c.Name)
		if err != nil {
			return Result{}, err
		}
		v := l.Verified()
		if len(v) == 0 {
			return Result{}, fmt.Errorf("backup target %s holds no verified backup of cluster %s: nothing to recover from (etcdboot backup list --target ... shows what is there)", store.Target(), c.Name)
		}
		name = v[0].Name
	}
	// The agents check it again; checking here gives the operator the error.
	tmp, err := os.MkdirTemp("", "etcdboot-recover-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	m, _, err := store.Fetch(ctx, name, filepath.Join(tmp, "snapshot.db"), backupstore.Expect{Cluster: c.Name})
	if err != nil {
		return Result{}, fmt.Errorf("backup %s: %w", name, err)
	}
	nonce, err := backupstore.NewNonce()
	if err != nil {
		return Result{}, err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	r := backupstore.RecoveryRequest{Cluster: c.Name, ClusterID: m.ClusterID, Backup: m.Name, At: now().UTC(), Nonce: nonce}
	if err := store.WriteRecoveryRequest(ctx, r); err != nil {
		return Result{}, err
	}
	return Result{Request: r, Target: store.Target()}, nil
}

// noQuorum fails when a member list comes back through eps: a quorum
// answers, and the cluster needs no recovery.
func noQuorum(ctx context.Context, eps []string, pkiDir string) error {
	tlsConf, err := tlsfiles.Files{CAFile: filepath.Join(pkiDir, "ca.crt"), CertFile: filepath.Join(pkiDir, "admin.crt"), KeyFile: filepath.Join(pkiDir, "admin.key")}.ClientConfig()
	if err != nil {
		return fmt.Errorf("the admin certificate (to check that no quorum answers): %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: tlsConf, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	mctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if ml, err := cli.MemberList(mctx); err == nil {
		return fmt.Errorf("%w (%d members listed through %v): it needs no recovery; replace dead members instead (a new instance joins, or etcdboot-agent leave)", ErrQuorumAnswers, len(ml.Members), eps)
	}
	return nil
}
