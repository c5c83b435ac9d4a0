package chaos

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap/firewall"
)

// firewallSettle bounds how long the watchers may take to bring every
// node's peer set in step with the membership once the group converged
// (they reconcile every bootstrap.WatchInterval).
const firewallSettle = 15 * time.Second

// checkFirewalls checks that every live instance's nftables peer set, read
// back from the kernel in its namespace, holds exactly the live members'
// addresses: no removed member is still let in, no member is shut out.
// It retries for firewallSettle, then reports what still differs.
func (g *group) checkFirewalls(ctx context.Context) []string {
	deadline := time.Now().Add(firewallSettle)
	for {
		p := g.firewallProblems()
		if len(p) == 0 || time.Now().After(deadline) {
			return p
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return append(p, err.Error())
		}
	}
}

func (g *group) firewallProblems() []string {
	var want []netip.Addr
	nodes := g.live()
	for _, n := range nodes {
		want = append(want, n.Addr)
	}
	var p []string
	for _, n := range nodes {
		have, err := peerSet(n.Host.NSFd)
		if err != nil {
			p = append(p, fmt.Sprintf("firewall of %s: %v", n.Name, err))
			continue
		}
		if d := peerSetDiff(have, want); d != "" {
			p = append(p, fmt.Sprintf("firewall of %s: %s", n.Name, d))
		}
	}
	return p
}

// peerSet reads the etcdboot table's peer set in the namespace nsFd opens.
func peerSet(nsFd func() (int, error)) ([]netip.Addr, error) {
	fd, err := nsFd()
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	pol, err := firewall.Current(firewall.DefaultTable, firewall.WithNetNS(fd))
	if err != nil {
		return nil, err
	}
	return pol.Peers, nil
}

// peerSetDiff says how a firewall's peer set have differs from the
// members' addresses want, or "" when they are the same set. Pure.
func peerSetDiff(have, want []netip.Addr) string {
	var extra, missing []string
	for _, a := range have {
		if !slices.Contains(want, a) {
			extra = append(extra, a.String())
		}
	}
	for _, a := range want {
		if !slices.Contains(have, a) {
			missing = append(missing, a.String())
		}
	}
	var parts []string
	if len(extra) > 0 {
		parts = append(parts, "lets in non-members "+strings.Join(extra, ", "))
	}
	if len(missing) > 0 {
		parts = append(parts, "shuts out members "+strings.Join(missing, ", "))
	}
	return strings.Join(parts, "; ")
}
