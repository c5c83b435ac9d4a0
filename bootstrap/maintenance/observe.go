package maintenance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// healthKey is read to see that a member serves linearizable reads; it need
// not exist.
const healthKey = "health"

// askTimeout bounds each question asked of one member while observing.
const askTimeout = 5 * time.Second

// clients holds one client per member endpoint, so that a question goes to
// the member it is about: a linearizable read through the member itself,
// MoveLeader to the leader.
type clients struct {
	tls *tls.Config
	mu  sync.Mutex
	by  map[string]*clientv3.Client
}

func newClients(tlsConf *tls.Config) *clients {
	return &clients{tls: tlsConf, by: map[string]*clientv3.Client{}}
}

// to returns the client of endpoint, connecting on first use.
func (c *clients) to(endpoint string) (*clientv3.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cli, ok := c.by[endpoint]; ok {
		return cli, nil
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: c.tls.Clone(), DialTimeout: askTimeout, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", endpoint, err)
	}
	c.by[endpoint] = cli
	return cli, nil
}

func (c *clients) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cli := range c.by {
		cli.Close()
	}
	c.by = map[string]*clientv3.Client{}
}

// observe asks the cluster, through self, for its members and alarms, then
// every member, concurrently, for its status and a linearizable read.
func (c *clients) observe(ctx context.Context, self string, now time.Time) (Observed, error) {
	cli, err := c.to(self)
	if err != nil {
		return Observed{}, err
	}
	actx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	ml, err := cli.MemberList(actx)
	if err != nil {
		return Observed{}, fmt.Errorf("member list through %s: %w; is this member's etcd running and the cluster in quorum?", self, err)
	}
	al, err := cli.AlarmList(actx)
	if err != nil {
		return Observed{}, fmt.Errorf("alarm list through %s: %w", self, err)
	}
	o := Observed{Now: now, Members: make([]MemberStatus, len(ml.Members))}
	for _, a := range al.Alarms {
		o.Alarms = append(o.Alarms, Alarm{MemberID: a.MemberID, Type: a.Alarm.String()})
	}
	leaders := make([]uint64, len(ml.Members))
	var wg sync.WaitGroup
	for i, m := range ml.Members {
		wg.Go(func() { o.Members[i], leaders[i] = c.ask(ctx, m) })
	}
	wg.Wait()
	// The leader is the one the members that answered agree on; a member
	// cut off may still name an old one.
	votes := map[uint64]int{}
	for _, l := range leaders {
		if l != 0 {
			votes[l]++
		}
	}
	for id, n := range votes {
		if n > len(ml.Members)/2 {
			o.Leader = id
		}
	}
	return o, nil
}

// ask asks one member for its status and a linearizable read; it returns
// what it found and the leader the member knows.
func (c *clients) ask(ctx context.Context, m *pb.Member) (MemberStatus, uint64) {
	s := MemberStatus{ID: m.ID, Name: m.Name, Learner: m.IsLearner}
	if len(m.ClientURLs) == 0 {
		s.Error = "it has not started (no client URL)"
		return s, 0
	}
	s.Endpoint = m.ClientURLs[0]
	st, err := c.status(ctx, s.Endpoint)
	if err != nil {
		s.Error = err.Error()
		return s, 0
	}
	s.DBSize, s.DBSizeInUse = st.DbSize, st.DbSizeInUse
	if st.IsLearner {
		s.Learner = true
	}
	if err := c.read(ctx, s.Endpoint); err != nil && !s.Learner {
		s.Error = err.Error()
		return s, st.Leader
	}
	s.Healthy = true
	return s, st.Leader
}

// status asks endpoint for its own status.
func (c *clients) status(ctx context.Context, endpoint string) (*clientv3.StatusResponse, error) {
	cli, err := c.to(endpoint)
	if err != nil {
		return nil, err
	}
	actx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	st, err := cli.Status(actx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", endpoint, err)
	}
	return st, nil
}

// read makes a linearizable read through endpoint: it succeeds only when
// the member is in touch with a leader and applying. Permission denied
// went through consensus too, as etcdctl reasons.
func (c *clients) read(ctx context.Context, endpoint string) error {
	cli, err := c.to(endpoint)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	if _, err := cli.Get(actx, healthKey); err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
		return fmt.Errorf("linearizable read through %s: %w", endpoint, err)
	}
	return nil
}
