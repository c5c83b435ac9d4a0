package maintenance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// LockKey is the cluster-wide lock (bootstrap.JoinLockKey): joins, etcd
// upgrades and maintenance rounds change one member at a time.
const LockKey = "/etcdboot/locks/join"

// lockTTL is the lease of the lock's session: a crashed holder frees the
// lock after it, as for joins.
const lockTTL = 10

// errNoSpaceLock says the lock cannot be taken because etcd refuses the
// lease and the put it needs while NOSPACE stands.
var errNoSpaceLock = errors.New("the cluster-wide lock cannot be taken while NOSPACE is raised")

// errLockBusy says the lock's holder did not let go within the lock
// timeout.
var errLockBusy = errors.New("the cluster-wide lock is busy")

// clusterLock is the cluster-wide lock, held.
type clusterLock struct {
	session *concurrency.Session
	mutex   *concurrency.Mutex
}

// lockCluster takes the cluster-wide lock through cli, waiting at most
// timeout for its holder (a join, an upgrade, another round) to finish.
func lockCluster(ctx context.Context, cli *clientv3.Client, timeout time.Duration) (*clusterLock, error) {
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	session, err := concurrency.NewSession(cli, concurrency.WithTTL(lockTTL), concurrency.WithContext(ctx))
	if err != nil {
		if errors.Is(err, rpctypes.ErrNoSpace) {
			return nil, errNoSpaceLock
		}
		return nil, fmt.Errorf("cluster lock session: %w", err)
	}
	m := concurrency.NewMutex(session, LockKey)
	if err := m.Lock(lctx); err != nil {
		_ = session.Close()
		switch {
		case errors.Is(err, rpctypes.ErrNoSpace):
			return nil, errNoSpaceLock
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return nil, fmt.Errorf("%w: a join, an upgrade or another round held %s for more than %v", errLockBusy, LockKey, timeout)
		}
		return nil, fmt.Errorf("take the cluster-wide lock %s: %w", LockKey, err)
	}
	return &clusterLock{session: session, mutex: m}, nil
}

// release frees the lock; a lock whose unlock fails is freed when its
// lease expires.
func (l *clusterLock) release() {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.mutex.Unlock(ctx)
	_ = l.session.Close()
}

// lockHeld reports whether anyone holds the cluster-wide lock: the oldest
// key under its prefix is its holder. Reading needs no write, so it works
// while NOSPACE stands.
func lockHeld(ctx context.Context, cli *clientv3.Client) (bool, error) {
	actx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	resp, err := cli.Get(actx, LockKey+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return false, fmt.Errorf("read the cluster-wide lock %s: %w", LockKey, err)
	}
	return len(resp.Kvs) > 0, nil
}
