package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap/firewall"
	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/spec"
)

// A member of a new cluster holds its peers off its peer port while its
// etcd bootstraps. etcd listens on the peer port before it serves it, and
// every member of a new cluster first asks each peer for its member list,
// with a 1 s timeout per peer (etcd's isMemberBootstrapped): a peer that
// listens but does not serve yet makes the ask wait out the timeout, so
// three members started together take up to 2 s longer than needed. Held,
// the peers' asks are reset at once and they go on. The hold is lifted as
// soon as this member's etcd serves, or after peerHoldLimit whatever
// happened, so no failure keeps the peers out.
const (
	// peerHoldLimit bounds a hold.
	peerHoldLimit = 30 * time.Second
	// peerHoldPoll is how often the release asks the member whether it
	// serves.
	peerHoldPoll = 10 * time.Millisecond
)

// holdsPeers decides whether the start step holds the peers: only a member
// that forms a new cluster runs etcd's bootstrap ask, and only the
// firewall can answer for it. It is pure.
func holdsPeers(firewallEnabled bool, plan Plan) bool {
	return firewallEnabled && plan.Action == ActionNew
}

// holdPeers sets the kernel's policy to hold the peers, the peer set
// staying what the firewall step put there, and reports whether it does:
// a hold that cannot be set only costs time.
func (a *Agent) holdPeers() bool {
	if _, err := setPeerHold(true); err != nil {
		a.log.Warn("starting etcd without holding the peers", "err", err)
		return false
	}
	a.log.Info("peers held off the peer port until etcd serves")
	return true
}

// setPeerHold applies the kernel's policy with the hold set or lifted and
// reports whether that changed it.
func setPeerHold(hold bool) (changed bool, err error) {
	pol, err := firewall.Current(firewall.DefaultTable)
	if err != nil {
		return false, err
	}
	changed, pol.HoldPeers = pol.HoldPeers != hold, hold
	return changed, firewall.Apply(pol)
}

// letPeersIn lifts the start step's hold once etcd serves: in exec mode
// from a goroutine, whose end the returned channel tells; under systemd
// from a transient unit beside etcd.service (nil channel), or at once when
// that cannot be started.
func (a *Agent) letPeersIn(ctx context.Context, n node) <-chan struct{} {
	if !a.cfg.Exec {
		err := a.startPeerRelease(ctx, n)
		if err == nil {
			return nil
		}
		a.log.Warn("letting the peers in now", "err", err)
		if _, err := setPeerHold(false); err != nil {
			a.log.Error("the peers stay held until the watcher starts", "err", err)
		}
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tlsConf, err := peerTLS(n.payload, a.cfg.Root).ClientConfig()
		if err == nil {
			_, err = releasePeers(ctx, a.log, n.peerURL(), tlsConf)
		}
		if err != nil {
			a.log.Error("the peers stay held until the watcher starts", "err", err)
		}
	}()
	return done
}

// liftStaleHold is the watcher's first act: a hold still set when it
// starts (its release was killed) is lifted.
func (a *Agent) liftStaleHold() {
	switch lifted, err := setPeerHold(false); {
	case err != nil:
		a.log.Warn("watch: lift a stale peer hold", "err", err)
	case lifted:
		a.log.Warn("watch: lifted a peer hold its release left")
	}
}

// releasePeers waits until the member answers /members on its peerURL,
// the ask of a peer's bootstrap, at most peerHoldLimit or until ctx ends,
// then lifts the hold. The node reaches its own peer port over lo, which
// the hold lets through. It returns how long the wait took.
func releasePeers(ctx context.Context, log *slog.Logger, peerURL string, tlsConf *tls.Config) (time.Duration, error) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, peerHoldLimit)
	err := waitServing(wctx, strings.TrimRight(peerURL, "/")+"/members", tlsConf)
	cancel()
	took := time.Since(start)
	if err != nil {
		log.Warn("letting the peers in without waiting for etcd to serve", "waited", took.Round(time.Millisecond), "why", err)
	}
	if _, err := setPeerHold(false); err != nil {
		return took, fmt.Errorf("let the peers in: %w", err)
	}
	log.Info("peers let in", "held", took.Round(time.Millisecond))
	return took, nil
}

// waitServing polls url every peerHoldPoll until it answers 200. etcd
// listens on its peer port before it serves it, and an ask that reaches
// it then hangs: asks time out after 100 ms at first, doubling
// after each timeout up to 2 s, so one such ask costs little and a loaded
// machine's slow handshakes still finish.
func waitServing(ctx context.Context, url string, tlsConf *tls.Config) error {
	client := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true}}
	last := errors.New("no answer yet")
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		if ctx.Err() == nil {
			last = err // an ask cut off by ctx says less than the one before
		}
		if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
			client.Timeout = min(2*client.Timeout, 2*time.Second)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not serve: %w", url, last)
		case <-time.After(peerHoldPoll):
		}
	}
}

// ReleasePeers is `etcdboot-agent firewall release-peers`: under systemd,
// the agent has handed etcd over to etcd.service by the time etcd starts,
// so this runs beside it, in a transient unit the start step starts, and
// lifts the hold once the member serves peerURL (this node's, which a
// group's launch payload does not name).
func ReleasePeers(ctx context.Context, payloadPath, root, peerURL string, log *slog.Logger) error {
	p, err := spec.LoadNodePayload(payloadPath)
	if err != nil {
		return err
	}
	tlsConf, err := peerTLS(p, root).ClientConfig()
	if err != nil {
		return err
	}
	_, err = releasePeers(ctx, log, peerURL, tlsConf)
	return err
}

// peerTLS is the member's peer certificate, which it presents to its peers
// as a client too.
func peerTLS(p *spec.NodePayload, root string) TLSFiles {
	t := p.TLS
	return TLSFiles{CAFile: etcdconfig.Path(root, t.CAFile), CertFile: etcdconfig.Path(root, t.PeerCertFile), KeyFile: etcdconfig.Path(root, t.PeerKeyFile)}
}

// peerURL is the member's peer URL on its first address.
func (n node) peerURL() string { return etcdconfig.HostURL(n.addrs[0], n.payload.Etcd.PeerPort) }

// startPeerRelease starts `etcdboot-agent firewall release-peers` in a
// transient systemd unit, outside this oneshot agent's cgroup, which
// systemd stops as the agent exits.
func (a *Agent) startPeerRelease(ctx context.Context, n node) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary for the peer release: %w", err)
	}
	args := []string{"--collect", "--no-block", "--quiet", "--description=etcdboot: let the peers in once etcd serves",
		self, "--log-level", "info", "--payload", a.cfg.PayloadPath, "--root", a.cfg.Root, "firewall", "release-peers", "--peer-url", n.peerURL()}
	if out, err := exec.CommandContext(ctx, "systemd-run", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("systemd-run the peer release: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
