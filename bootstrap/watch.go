package bootstrap

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/bootstrap/firewall"
	"github.com/etcdboot/etcdboot/internal/monitoring"
)

func firewallReplace(addrs []netip.Addr) error {
	return firewall.ReplacePeers(firewall.DefaultTable, addrs)
}

// WatchInterval is how often the watcher reconciles the firewall.
const WatchInterval = time.Second

// certExpiryInterval is how often the watcher re-reads the certificates'
// expiry for its metrics.
const certExpiryInterval = 30 * time.Second

// PeerAddrs is the peer set the firewall must allow: every member's peer
// address plus the addresses announced under PendingPeersPrefix by nodes
// about to be added (so they are let in before they are added). Pure.
func PeerAddrs(memberPeerURLs [][]string, pending []string) []netip.Addr {
	var out []netip.Addr
	add := func(ip netip.Addr) {
		if ip.IsValid() && !slices.Contains(out, ip) {
			out = append(out, ip)
		}
	}
	for _, urls := range memberPeerURLs {
		for _, u := range urls {
			if pu, err := url.Parse(u); err == nil {
				if ap, err := netip.ParseAddrPort(pu.Host); err == nil {
					add(ap.Addr())
				}
			}
		}
	}
	for _, p := range pending {
		if ip, err := netip.ParseAddr(p); err == nil {
			add(ip)
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// Watch keeps the firewall's peer set equal to the cluster's membership
// (plus pending joiners) until ctx ends, or until the member must run the
// boot steps again (an operator's recovery request while no quorum
// answers, or removed while cut off): it then returns ErrRunBootStepsAgain
// for systemd to restart etcdboot-agent.service.
func (a *Agent) Watch(ctx context.Context) error {
	n, err := a.loadPayload(ctx, false)
	if err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	asked := make(chan string, 1)
	act := func(_ context.Context, why string) error {
		select {
		case asked <- why:
		default:
		}
		stop()
		return nil
	}
	err = a.watch(wctx, n, watchHooks{runAgain: act})
	select {
	case why := <-asked:
		return fmt.Errorf("%s: %w", why, ErrRunBootStepsAgain)
	default:
	}
	return err
}

// watchHooks are how the watcher's caller learns what it must act on.
type watchHooks struct {
	// runAgain acts on an operator's recovery request once no quorum
	// answers, or on this member removed while it was cut off (see
	// followRecoveryRequests): it stops etcd and has the boot steps run
	// again.
	runAgain func(ctx context.Context, why string) error
	// sawGroup, when set, gets this member's group as read every
	// WatchInterval.
	sawGroup func(groupSeen)
}

// watch is Watch for node n, also run by the exec-mode supervisor.
func (a *Agent) watch(ctx context.Context, n node, hooks watchHooks) error {
	if err := a.startMetrics(ctx, n); err != nil {
		a.log.Warn("agent metrics not served", "err", err)
	}
	a.setPhase(monitoring.PhaseReady)
	if n.payload.Firewall.IsEnabled() {
		a.liftStaleHold()
	}
	go a.followBackups(ctx, n)
	go a.followMaintenance(ctx, n)
	tlsConf, err := a.watcherTLS(n)
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.clientURL()}, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		return fmt.Errorf("watch: connect to this member: %w", err)
	}
	defer cli.Close()
	go a.watchAlarms(ctx, n, cli)
	go a.followRecoveryRequests(ctx, n, cli, tlsConf, hooks.runAgain)
	var last []netip.Addr
	tick := time.NewTicker(WatchInterval)
	defer tick.Stop()
	joiners := a.announcedJoiners(ctx, cli)
	lastRenew, lastExpiry := time.Now(), time.Now()
	scrubbed := false
	var issuer issuerFollower
	var caChecked int64
	if n.payload.TLS.IssuerCertFile != "" {
		a.watchIssuerLife(n, &issuer)
	}
	for {
		if !scrubbed {
			scrubbed = a.scrubUserData()
		}
		if n.payload.TLS.IssuerCertFile != "" && time.Since(lastRenew) >= a.cfg.RenewInterval {
			// A CA bundle and a renewed issuer published to the group are
			// checked and installed first, in that order (a CA rotation
			// publishes an issuer of the new CA with the bundle that
			// trusts it), so this renewal already mints with them.
			a.followPublishedCA(ctx, cli, n, &caChecked)
			a.followIssuer(ctx, cli, n, &issuer)
			// etcd reads its certificate files at every new TLS handshake,
			// so renewed files take effect without a restart.
			if err := a.mintCertificates(n); err != nil {
				a.log.Warn("watch: renew certificates", "err", err)
			}
			a.recordCertExpiry(n)
			a.watchIssuerLife(n, &issuer)
			lastRenew = time.Now()
		}
		if time.Since(lastExpiry) >= certExpiryInterval {
			// Certificates installed by `certs install` show up here.
			a.recordCertExpiry(n)
			lastExpiry = time.Now()
		}
		if n.payload.Firewall.IsEnabled() {
			last = a.reconcilePeers(ctx, cli, last)
		}
		if hooks.sawGroup != nil {
			if g, err := readGroup(ctx, cli); err == nil {
				hooks.sawGroup(g)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-joiners:
		}
	}
}

// announcedJoiners signals each time a joiner announces its address under
// PendingPeersPrefix, so the watcher lets it through the firewall at once
// rather than at its next tick: the joiner waits for every member's
// firewall before it adds its learner (awaitPeerAccess). Signals coalesce;
// a broken watch is reopened by the client, and the tick still reconciles.
func (a *Agent) announcedJoiners(ctx context.Context, cli *clientv3.Client) <-chan struct{} {
	wake := make(chan struct{}, 1)
	go func() {
		wch := cli.Watch(ctx, PendingPeersPrefix, clientv3.WithPrefix(), clientv3.WithFilterDelete())
		for resp := range wch {
			if len(resp.Events) == 0 {
				continue
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	return wake
}

// reconcilePeers sets the firewall's peer set to the membership when it
// changed since last, and returns what the firewall now holds.
func (a *Agent) reconcilePeers(ctx context.Context, cli *clientv3.Client, last []netip.Addr) []netip.Addr {
	addrs, err := a.desiredPeers(ctx, cli)
	if err != nil {
		a.log.Debug("watch: membership not readable now", "err", err)
		return last
	}
	if slices.Equal(addrs, last) || len(addrs) == 0 {
		return last
	}
	if err := firewallReplace(addrs); err != nil {
		a.log.Warn("watch: update firewall", "err", err)
		return last
	}
	a.log.Info("firewall peers updated", "peers", addrs)
	return addrs
}

func (a *Agent) desiredPeers(ctx context.Context, cli *clientv3.Client) ([]netip.Addr, error) {
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ml, err := cli.MemberList(rctx)
	if err != nil {
		return nil, err
	}
	pend, err := cli.Get(rctx, PendingPeersPrefix, clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		return nil, err
	}
	var urls [][]string
	for _, m := range ml.Members {
		urls = append(urls, m.PeerURLs)
	}
	var pending []string
	for _, kv := range pend.Kvs {
		pending = append(pending, string(kv.Key[len(PendingPeersPrefix):]))
	}
	return PeerAddrs(urls, pending), nil
}

// watcherTLS is the client TLS configuration of the watcher, whose client
// certificate is read at every handshake: the watcher outlives the
// certificate it started with (it renews it, from a renewed issuer too),
// and a reconnection after that one expired would fail.
func (a *Agent) watcherTLS(n node) (*tls.Config, error) {
	files := a.tlsFiles(n)
	tlsConf, err := files.ClientConfig()
	if err != nil {
		return nil, err
	}
	tlsConf.Certificates = nil
	tlsConf.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(files.CertFile, files.KeyFile)
		return &c, err
	}
	return tlsConf, nil
}
