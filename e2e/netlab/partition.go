package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// partitionTable is the nftables table, family inet, that Block maintains
// inside a host. Its hooks run at priority -10, ahead of filter chains at the
// default priority 0 such as the agent's own firewall; a drop is final in
// nftables, so a partition holds whatever that firewall accepts.
const partitionTable = "netlab"

// Block drops all traffic between this host and other, both ways, inside this
// host's namespace: a network partition. Established connections stall
// rather than reset, as on a real partition. Blocking an address twice is
// harmless.
func (h *Host) Block(other netip.Addr) error {
	return h.setBlocked(other, true)
}

// Unblock ends a partition started with Block; the nftables table goes away
// with the last blocked address. Unblocking an address that is not blocked is
// harmless.
func (h *Host) Unblock(other netip.Addr) error {
	return h.setBlocked(other, false)
}

// Blocked returns the addresses this host currently drops traffic with.
func (h *Host) Blocked() []netip.Addr {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.blockedLocked()
}

func (h *Host) blockedLocked() []netip.Addr {
	addrs := make([]netip.Addr, 0, len(h.blocked))
	for a := range h.blocked {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return addrs
}

func (h *Host) setBlocked(other netip.Addr, block bool) error {
	if !other.Is4() {
		return fmt.Errorf("netlab: host %s: block %s: only IPv4 addresses are supported", h.Name, other)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.blocked[other] == block {
		return nil
	}
	if block {
		h.blocked[other] = true
	} else {
		delete(h.blocked, other)
	}
	ruleset := partitionRuleset(h.blockedLocked())
	_, err := command(context.Background(), ruleset, "ip", "netns", "exec", h.NS, "nft", "-f", "-")
	if err != nil {
		// Keep the bookkeeping equal to what the kernel has.
		if block {
			delete(h.blocked, other)
		} else {
			h.blocked[other] = true
		}
		verb := map[bool]string{true: "block", false: "unblock"}[block]
		return fmt.Errorf("netlab: host %s: %s %s: %w", h.Name, verb, other, err)
	}
	return nil
}

// partitionRuleset renders the whole partition table for the blocked
// addresses. It replaces the table in one nft transaction (the leading
// "table; delete table" makes it re-appliable), so there is no moment without
// the rules; with no address it only deletes the table.
func partitionRuleset(blocked []netip.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\n", partitionTable, partitionTable)
	if len(blocked) == 0 {
		return b.String()
	}
	elems := make([]string, len(blocked))
	for i, a := range blocked {
		elems[i] = a.String()
	}
	fmt.Fprintf(&b, `table inet %s {
	set blocked {
		type ipv4_addr
		elements = { %s }
	}
	chain input {
		type filter hook input priority -10; policy accept;
		ip saddr @blocked drop
	}
	chain output {
		type filter hook output priority -10; policy accept;
		ip daddr @blocked drop
	}
}
`, partitionTable, strings.Join(elems, ", "))
	return b.String()
}
