package bootstrap

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/spec"
)

// loadPayload is the payload step: it reads the node payload, derives an
// autoscaling instance's identity (minting its certificates), waits with
// wait until the host carries the member's addresses, and checks the
// certificates. It returns the node every later step works on.
func (a *Agent) loadPayload(ctx context.Context, wait bool) (node, error) {
	p, err := spec.LoadNodePayload(a.cfg.PayloadPath)
	if err != nil {
		return node{}, err
	}
	minor, err := spec.EtcdMinor(p.Etcd.Version)
	if err != nil {
		return node{}, fmt.Errorf("%s: etcd.version: %w", a.cfg.PayloadPath, err)
	}
	if p.Node == nil {
		// A launch payload of an autoscaling group: who we are comes from
		// the host, our certificates from the group's intermediate.
		var self spec.Member
		err := a.awaitHostAddrs(ctx, wait, func(addrs []netip.Addr) (err error) {
			self, err = etcdconfig.GroupIdentity(p.Autoscaling, addrs)
			return err
		})
		if err != nil {
			return node{}, fmt.Errorf("%s: %w", a.cfg.PayloadPath, err)
		}
		p.Node = &self
		if err := a.mintCertificates(newNode(p, minor)); err != nil {
			return node{}, err
		}
		a.log.Info("identity", "member", self.Name, "ip", self.IPs[0])
	}
	n := newNode(p, minor)
	if wait {
		// etcd cannot bind an address the host does not carry.
		if err := a.awaitHostAddrs(ctx, wait, func(addrs []netip.Addr) error { return missingAddrs(n.addrs, addrs) }); err != nil {
			return node{}, fmt.Errorf("%s: node %s: %w", a.cfg.PayloadPath, p.Node.Name, err)
		}
	}
	a.journal.State = journalFor(a.journal.State, p.Token, p.Node.Name)
	return n, a.checkCertificates(n)
}

// journalFor is the journal state a run for member of the cluster with
// token starts from: st, unless st is of another cluster or member, an
// earlier life of this disk, of which only the data dirs moved aside are
// kept. It is pure.
func journalFor(st JournalState, token, member string) JournalState {
	if st.Token != token || st.Member != member {
		return JournalState{Token: token, Member: member, MovedAside: st.MovedAside}
	}
	return st
}
