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
	// From is Latest (also when empty) or a backup's name.
	From string
	// FromMember names a surviving member to take the backup from instead:
	// its snapshot is uploaded to backup.target as a backup of the cluster,
	// and the request names that. It excludes From.
	FromMember string
	// Endpoints are the members' client URLs for the quorum check and for
	// finding FromMember; empty means the spec's.
	Endpoints []string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Result is the request written.
type Result struct {
	Request backupstore.RecoveryRequest `json:"request"`
	Target  string                      `json:"target"`
	// Uploaded is the backup taken from FromMember, when it was given.
	Uploaded *backupstore.Manifest `json:"uploaded,omitempty"`
}

// ErrQuorumAnswers means the cluster still has a healthy quorum: recovering
// it from a backup would throw away what it holds since.
var ErrQuorumAnswers = errors.New("a quorum of the cluster answers")

// ErrBothSources means both a backup and a member to take one from were
// given.
var ErrBothSources = errors.New("--from and --from-member both given")

// Request checks that no quorum answers, picks and checks the backup (or
// takes one from the surviving member FromMember and uploads it), and
// writes the recovery request into the cluster's backup target.
func Request(ctx context.Context, o Options) (Result, error) {
	if o.From != "" && o.FromMember != "" {
		return Result{}, fmt.Errorf("%w: recover from a backup in the store (--from %s) or from what member %s holds (--from-member), not both", ErrBothSources, o.From, o.FromMember)
	}
	c, _, err := spec.LoadCluster(o.SpecPath)
	if err != nil {
		return Result{}, err
	}
	if c.Backup == nil || c.Backup.Target == "" {
		return Result{}, fmt.Errorf("%s: backup.target is not set: a recovery forms the cluster from a backup in the store; set it, or restore by hand (etcdboot restore plan)", o.SpecPath)
	}
	eps := o.Endpoints
	if len(eps) == 0 {
		eps = status.EndpointsFromCluster(c)
	}
	if len(eps) > 0 {
		if err := noQuorum(ctx, eps, o.PKIDir); err != nil {
			return Result{}, err
		}
	}
	var survivor *survivorMember
	if o.FromMember != "" {
		if survivor, err = survivorOf(ctx, c, o); err != nil {
			return Result{}, err
		}
	}
	store, err := backupstore.Open(ctx, c.Backup.Target)
	if err != nil {
		return Result{}, err
	}
	defer store.Close()
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	var uploaded *backupstore.Manifest
	name := o.From
	if survivor != nil {
		m, err := survivor.backUp(ctx, store, c.Name, now().UTC())
		if err != nil {
			return Result{}, err
		}
		uploaded, name = &m, m.Name
	}
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
	// The agents check it again; checking here gives the operator the
	// error, and reads a backup just taken from a member back as they will.
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
	r := backupstore.RecoveryRequest{Cluster: c.Name, ClusterID: m.ClusterID, Backup: m.Name, At: now().UTC(), Nonce: nonce}
	if err := store.WriteRecoveryRequest(ctx, r); err != nil {
		return Result{}, err
	}
	return Result{Request: r, Target: store.Target(), Uploaded: uploaded}, nil
}

// survivorOf finds the member o.FromMember names: at o.Endpoints, or where
// the spec puts it.
func survivorOf(ctx context.Context, c *spec.Cluster, o Options) (*survivorMember, error) {
	candidates := o.Endpoints
	if len(candidates) == 0 {
		ep, err := memberEndpoint(c, o.FromMember)
		if err != nil {
			return nil, err
		}
		candidates = []string{ep}
	}
	return findMember(ctx, candidates, o.FromMember, adminTLS(o.PKIDir))
}

// adminTLS is the generator's admin client certificate under pkiDir.
func adminTLS(pkiDir string) tlsfiles.Files {
	return tlsfiles.Files{CAFile: filepath.Join(pkiDir, "ca.crt"), CertFile: filepath.Join(pkiDir, "admin.crt"), KeyFile: filepath.Join(pkiDir, "admin.key")}
}

// noQuorum fails when a member list comes back through eps: a quorum
// answers, and the cluster needs no recovery.
func noQuorum(ctx context.Context, eps []string, pkiDir string) error {
	tlsConf, err := adminTLS(pkiDir).ClientConfig()
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
