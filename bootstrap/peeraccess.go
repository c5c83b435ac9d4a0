package bootstrap

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

// peerAccessTimeout bounds how long a joiner waits for the members'
// firewalls to let it in: their watchers reconcile every WatchInterval, so
// a few intervals cover a loaded member; past it the join goes on (etcd
// retries its peer connections) and says which member still drops it.
const peerAccessTimeout = 3 * WatchInterval

// peerProbeInterval is how often a joiner dials the members' peer ports
// while it waits to be let in, and peerDialTimeout how long one dial may
// take (a firewall that drops the SYN shows as a timeout).
const (
	peerProbeInterval = 25 * time.Millisecond
	peerDialTimeout   = 250 * time.Millisecond
)

// peerPorts are the peer ports (host:port) of the members a joiner must be
// able to reach before its learner is added: every member that answered,
// but this node's own earlier life. Pure.
func peerPorts(members []*etcdserverpb.Member, answering map[uint64]bool, self func(*etcdserverpb.Member) bool) []string {
	var out []string
	for _, m := range members {
		if !answering[m.ID] || self(m) || len(m.PeerURLs) == 0 {
			continue
		}
		u, err := url.Parse(m.PeerURLs[0])
		if err != nil || u.Host == "" {
			continue
		}
		out = append(out, u.Host)
	}
	slices.Sort(out)
	return out
}

// awaitPeerAccess waits until this node, dialling from from, reaches every
// peer port in ports: each member's watcher adds the address the join
// announced under PendingPeersPrefix to its firewall within a
// WatchInterval, and a learner added before that would start with peers
// that drop its packets. It returns how long it waited and the ports still
// unreachable when peerAccessTimeout ran out.
func awaitPeerAccess(ctx context.Context, from netip.Addr, ports []string) (time.Duration, []string) {
	start := time.Now()
	dialer := net.Dialer{Timeout: peerDialTimeout, LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
	left := slices.Clone(ports)
	for len(left) > 0 && time.Since(start) < peerAccessTimeout && ctx.Err() == nil {
		left = slices.DeleteFunc(left, func(hostPort string) bool {
			conn, err := dialer.DialContext(ctx, "tcp", hostPort)
			if err != nil {
				return false
			}
			conn.Close()
			return true
		})
		if len(left) > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(peerProbeInterval):
			}
		}
	}
	return time.Since(start), left
}
