package status

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ErrNoAnswer is returned by Check when not one endpoint answered; the
// report still lists why each failed.
var ErrNoAnswer = errors.New("no endpoint answered")

// healthKey is the key etcdctl reads to check health; it need not exist.
const healthKey = "health"

// Check asks every endpoint, concurrently and each through its own client
// so a dead one stalls no other, for its status, the member list and its
// health the way `etcdctl endpoint health` judges it: a linearizable read
// succeeds (or is refused for permission, which also needs consensus) and no
// alarm is active. It returns an error wrapping ErrNoAnswer only when no
// endpoint answered at all; a report with unhealthy endpoints is no error.
func Check(ctx context.Context, opts Options) (Report, error) {
	if len(opts.Endpoints) == 0 {
		return Report{}, errors.New("check cluster status: no endpoints; give at least one client URL such as https://10.0.0.1:2379")
	}
	tlsConf, err := opts.clientTLS()
	if err != nil {
		return Report{}, fmt.Errorf("check cluster status: %w", err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	probes := make([]probe, len(opts.Endpoints))
	var wg sync.WaitGroup
	for i, ep := range opts.Endpoints {
		wg.Go(func() { probes[i] = probeEndpoint(ctx, ep, tlsConf.Clone(), timeout) })
	}
	wg.Wait()
	return assemble(probes)
}

// probe is what one endpoint answered, before the endpoints are put together.
type probe struct {
	status EndpointStatus
	// memberID is the answering member's ID; 0 when Status failed.
	memberID uint64
	// members is the endpoint's own view of the member list; nil when it
	// did not give one.
	members []*pb.Member
	// answered is true when any question got an answer from etcd itself.
	answered bool
	// clusterVersion is what the endpoint's /version says the cluster runs.
	clusterVersion string
	errs           []error
}

func (p *probe) fail(err error) { p.errs = append(p.errs, err) }

// probeEndpoint asks one endpoint everything within timeout. Status and the
// member list come first: they are answered locally, so a member cut off
// from quorum still says who it is before its health read runs out of time.
func probeEndpoint(parent context.Context, ep string, tlsConf *tls.Config, timeout time.Duration) probe {
	p := probe{status: EndpointStatus{Endpoint: ep}}
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()

	diag := newConnDiagnosis(ep, tlsConf, timeout)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{ep},
		TLS:         tlsConf,
		Context:     ctx,
		Logger:      zap.NewNop(),
		DialOptions: diag.dialOptions(),
	})
	if err != nil {
		p.fail(fmt.Errorf("create client: %w", err))
		p.status.Took = time.Since(start)
		return p
	}
	defer cli.Close()
	diag.watch(ctx, cli.ActiveConnection())
	defer diag.stop()

	leader := p.askStatus(ctx, cli, diag)
	if ctx.Err() == nil {
		p.askMembers(ctx, cli, diag)
	}
	if p.answered && ctx.Err() == nil {
		p.clusterVersion = askClusterVersion(ctx, ep, tlsConf)
	}
	if ctx.Err() != nil {
		p.status.Took = time.Since(start)
		return p
	}
	p.askHealth(ctx, cli, diag, leader)
	return p
}

// askStatus fills in the member's Maintenance.Status and returns the leader
// it knows, 0 for none or unknown.
func (p *probe) askStatus(ctx context.Context, cli *clientv3.Client, diag *connDiagnosis) (leader uint64) {
	st, err := cli.Status(ctx, p.status.Endpoint)
	if err != nil {
		p.fail(fmt.Errorf("status: %w", diag.explain(err)))
		return 0
	}
	p.answered = true
	p.memberID = st.Header.MemberId
	p.status.ID = memberIDString(st.Header.MemberId)
	p.status.Version = st.Version
	p.status.StorageVersion = st.StorageVersion
	p.status.DBSize = st.DbSize
	p.status.DBSizeInUse = st.DbSizeInUse
	p.status.IsLeader = st.Leader != 0 && st.Leader == st.Header.MemberId
	p.status.IsLearner = st.IsLearner
	p.status.RaftTerm = st.RaftTerm
	p.status.RaftIndex = st.RaftIndex
	p.status.RaftAppliedIndex = st.RaftAppliedIndex
	p.status.Errors = st.Errors
	return st.Leader
}

// askMembers keeps the member's own view of the member list: serializable,
// so it comes even without quorum; assemble prefers the leader's view.
func (p *probe) askMembers(ctx context.Context, cli *clientv3.Client, diag *connDiagnosis) {
	ml, err := cli.MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		p.fail(fmt.Errorf("member list: %w", diag.explain(err)))
		return
	}
	p.answered = true
	p.members = ml.Members
}

// askHealth judges health as etcdctl does: a linearizable read of healthKey,
// then no active alarm in the cluster.
func (p *probe) askHealth(ctx context.Context, cli *clientv3.Client, diag *connDiagnosis, leader uint64) {
	start := time.Now()
	_, err := cli.Get(ctx, healthKey)
	p.status.Took = time.Since(start)
	// Permission denied is healthy: the read went through consensus to be
	// refused, as etcdctl reasons too.
	if err != nil && !errors.Is(err, rpctypes.ErrPermissionDenied) {
		if p.memberID != 0 && errors.Is(err, context.DeadlineExceeded) {
			cause := "the member answers status, but a linearizable read waits for consensus: has the cluster lost quorum?"
			if leader == 0 {
				cause += " (it has no leader)"
			}
			err = &noAnswerError{timeout: diag.timeout, cause: cause, err: err}
		} else {
			err = diag.explain(err)
		}
		p.fail(fmt.Errorf("health read: %w", err))
		return
	}
	p.answered = true
	alarms, err := cli.AlarmList(ctx)
	if err != nil {
		p.fail(fmt.Errorf("alarm list: %w", diag.explain(err)))
		return
	}
	if len(alarms.Alarms) > 0 {
		p.fail(activeAlarms(alarms.Alarms))
		return
	}
	p.status.Healthy = true
}

// activeAlarms describes the cluster's alarms like etcdctl does.
func activeAlarms(alarms []*pb.AlarmMember) error {
	var names []string
	for _, a := range alarms {
		names = append(names, fmt.Sprintf("%s on member %s", a.Alarm, memberIDString(a.MemberID)))
	}
	return fmt.Errorf("active alarms: %s; see `etcdctl alarm list`, fix the cause, then `etcdctl alarm disarm`", strings.Join(names, ", "))
}

// assemble puts the probes together in endpoint order, names each member
// and picks the member list to report.
func assemble(probes []probe) (Report, error) {
	r := Report{Endpoints: make([]EndpointStatus, len(probes)), Members: []Member{}}
	chosen := -1
	for i, p := range probes {
		if p.members == nil {
			continue
		}
		if chosen < 0 || (p.status.IsLeader && !probes[chosen].status.IsLeader) {
			chosen = i
		}
	}
	var list []*pb.Member
	if chosen >= 0 {
		list = probes[chosen].members
		for _, m := range list {
			r.Members = append(r.Members, Member{
				ID:         memberIDString(m.ID),
				Name:       m.Name,
				PeerURLs:   nonNil(m.PeerURLs),
				ClientURLs: nonNil(m.ClientURLs),
				IsLearner:  m.IsLearner,
			})
		}
	}

	answered := false
	var errs []error
	for i, p := range probes {
		s := p.status
		if p.memberID != 0 {
			// A member knows its own name even when the chosen list,
			// another member's view, does not have it yet.
			s.Name = memberName(p.members, p.memberID)
			if s.Name == "" {
				s.Name = memberName(list, p.memberID)
			}
		}
		if len(p.errs) > 0 {
			msgs := make([]string, len(p.errs))
			for j, err := range p.errs {
				msgs[j] = err.Error()
			}
			s.Error = strings.Join(msgs, "; ")
		}
		r.Endpoints[i] = s
		if p.answered {
			answered = true
		} else {
			errs = append(errs, fmt.Errorf("%s: %w", s.Endpoint, errors.Join(p.errs...)))
		}
	}
	for i, p := range probes {
		if p.clusterVersion != "" && (r.ClusterVersion == "" || i == chosen) {
			r.ClusterVersion = p.clusterVersion
		}
	}
	if !answered {
		return r, fmt.Errorf("check cluster status: %w (%d tried): %w", ErrNoAnswer, len(probes), errors.Join(errs...))
	}
	return r, nil
}

// askClusterVersion reads the cluster version from the endpoint's /version
// (etcd serves it beside gRPC on the client port); "" when it does not say.
func askClusterVersion(ctx context.Context, endpoint string, tlsConf *tls.Config) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+"/version", nil)
	if err != nil {
		return ""
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var v struct {
		Cluster string `json:"etcdcluster"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&v) != nil || v.Cluster == "not_decided" {
		return ""
	}
	return v.Cluster
}

func memberName(members []*pb.Member, id uint64) string {
	for _, m := range members {
		if m.ID == id {
			return m.Name
		}
	}
	return ""
}

// memberIDString formats a member ID in hex, as etcdctl prints it.
func memberIDString(id uint64) string { return strconv.FormatUint(id, 16) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
