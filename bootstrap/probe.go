package bootstrap

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/internal/etcdconfig"
)

// runningCluster is a healthy cluster the agent found.
type runningCluster struct {
	endpoints []string
	members   []*etcdserverpb.Member
}

// probeCluster asks the candidates' client ports for a member list; the
// first answer wins. A forming cluster without quorum does not answer.
func (a *Agent) probeCluster(ctx context.Context, n node, candidates []netip.Addr) (*runningCluster, error) {
	self := n.addrs
	var eps []string
	for _, ip := range candidates {
		if !slices.Contains(self, ip) {
			eps = append(eps, etcdconfig.HostURL(ip, n.payload.Etcd.ClientPort))
		}
	}
	if len(eps) == 0 {
		return nil, nil
	}
	tlsConf, err := a.tlsFiles(n).ClientConfig()
	if err != nil {
		return nil, err
	}
	// Ask every candidate at once; a closed port costs a refused dial only.
	results := make(chan *runningCluster, len(eps))
	for _, ep := range eps {
		go func() { results <- probeEndpoint(ctx, ep, tlsConf) }()
	}
	var found *runningCluster
	for range eps {
		if rc := <-results; rc != nil && found == nil {
			found = rc
		}
	}
	return found, nil
}

func probeEndpoint(ctx context.Context, ep string, tlsConf *tls.Config) *runningCluster {
	u, err := url.Parse(ep)
	if err != nil {
		return nil
	}
	conn, err := net.DialTimeout("tcp", u.Host, 500*time.Millisecond)
	if err != nil {
		return nil
	}
	conn.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, TLS: tlsConf, DialTimeout: time.Second, Logger: nopZap()})
	if err != nil {
		return nil
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ml, err := cli.MemberList(pctx)
	if err != nil {
		return nil
	}
	rc := &runningCluster{members: ml.Members}
	for _, m := range ml.Members {
		if len(m.ClientURLs) > 0 && !m.IsLearner {
			rc.endpoints = append(rc.endpoints, m.ClientURLs...)
		}
	}
	return rc
}

func memberAnswers(ctx context.Context, cli *clientv3.Client, endpoint string) bool {
	// A dead member's closed port answers a plain dial at once.
	if u, err := url.Parse(endpoint); err == nil {
		conn, err := net.DialTimeout("tcp", u.Host, 500*time.Millisecond)
		if err != nil {
			return false
		}
		conn.Close()
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := cli.Status(sctx, endpoint)
	return err == nil
}
