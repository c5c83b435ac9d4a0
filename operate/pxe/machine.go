package pxe

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/etcdboot/etcdboot/spec"
)

// Machine is one machine the server knows: how it is selected, which node's
// payload it gets, how it boots, and what guards its payload.
type Machine struct {
	Selector Selector
	// Node names the directory under out/nodes/ the payload comes from.
	Node string
	// Profile is resolved: OS, format, kernel and initrds are all set.
	Profile Profile
	// FetchLimit is how often the node's payload may be fetched before it
	// must be re-armed; 0 is no limit.
	FetchLimit int
	// Allow are the source prefixes the machine's requests may come from;
	// empty allows any.
	Allow []netip.Prefix
	// Origin says where the machine was declared, e.g.
	// "nodes/etcd1/node.yaml" or "groups.yaml:4:3".
	Origin string
}

// Allows reports whether a request from addr may be answered for m.
func (m *Machine) Allows(addr netip.Addr) bool {
	if len(m.Allow) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range m.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// machineTable maps every selector to its machine; selectors are unique.
type machineTable map[Selector]*Machine

// match returns the machine the request's labels select, trying its MAC,
// then its UUID, then its hostname; nil when none is known.
func (t machineTable) match(l Labels) *Machine {
	for _, s := range l.Selectors() {
		if m, ok := t[s]; ok {
			return m
		}
	}
	return nil
}

// buildMachines derives the machine table from the nodes (each member's mac:
// selects its own node) and the groups, which may add machines, and may
// restate a member's MAC to give it a profile or restrictions. A selector
// claimed twice is an error, as is a group naming a node that does not exist
// or a format the node was not rendered in.
func buildMachines(nodes map[string]*Node, groups []Group, defaultLimit int) (machineTable, error) {
	t := machineTable{}
	var errs []error

	names := make([]string, 0, len(nodes))
	for name := range nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	// Members' own MACs first; groups may then restate them.
	for _, name := range names {
		n := nodes[name]
		if n.Payload.Node == nil || n.Payload.Node.MAC == "" {
			continue
		}
		origin := "nodes/" + name + "/node.yaml"
		mac, err := normalizeMemberMAC(n.Payload.Node.MAC)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: node.mac: %w", origin, err))
			continue
		}
		sel := Selector{KeyMAC, mac}
		if other, dup := t[sel]; dup {
			errs = append(errs, fmt.Errorf("%s: node.mac %s is also the MAC of node %s; regenerate with distinct MACs", origin, mac, other.Node))
			continue
		}
		p, err := Profile{}.resolve(n.defaultFormat())
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", origin, err))
			continue
		}
		t[sel] = &Machine{Selector: sel, Node: name, Profile: p, FetchLimit: defaultLimit, Origin: origin}
	}

	fromGroup := map[Selector]string{}
	for i, g := range groups {
		m, err := g.machine(nodes, defaultLimit)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: groups[%d]: %w", g.pos, i, err))
			continue
		}
		if pos, dup := fromGroup[m.Selector]; dup {
			errs = append(errs, fmt.Errorf("%s: groups[%d]: selector %s is already used at %s", g.pos, i, m.Selector, pos))
			continue
		}
		if member, ok := t[m.Selector]; ok && member.Node != m.Node {
			errs = append(errs, fmt.Errorf("%s: groups[%d]: %s is the MAC of node %s (in %s), not of %s", g.pos, i, m.Selector, member.Node, member.Origin, m.Node))
			continue
		}
		fromGroup[m.Selector] = g.pos
		t[m.Selector] = m
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// machine turns a parsed group into a machine against the loaded nodes.
func (g Group) machine(nodes map[string]*Node, defaultLimit int) (*Machine, error) {
	sel, err := g.Selector.selector()
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	n, ok := nodes[g.Node]
	if !ok {
		have := make([]string, 0, len(nodes))
		for name := range nodes {
			have = append(have, name)
		}
		slices.Sort(have)
		return nil, fmt.Errorf("node %q: no such directory under out/nodes/ (have %s)", g.Node, strings.Join(have, ", "))
	}
	var p Profile
	if g.Profile != nil {
		p = *g.Profile
	}
	if p, err = p.resolve(n.defaultFormat()); err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if !n.has(p.Format) {
		return nil, fmt.Errorf("profile: node %s has no %s payload; add %s to the spec's payload.formats and regenerate", g.Node, p.Format, p.Format)
	}
	m := &Machine{Selector: sel, Node: g.Node, Profile: p, FetchLimit: defaultLimit, Origin: g.pos}
	if g.FetchLimit != nil {
		m.FetchLimit = *g.FetchLimit
	}
	if m.Allow, err = parseAllow(g.Allow); err != nil {
		return nil, fmt.Errorf("allow: %w", err)
	}
	if g.AllowMemberIPs {
		if n.Payload.Node == nil || len(n.Payload.Node.IPs) == 0 {
			return nil, fmt.Errorf("allowMemberIPs: node %s has no member IPs (an autoscaling launch payload); list allow: CIDRs instead", g.Node)
		}
		ips, err := parseAllow(n.Payload.Node.IPs)
		if err != nil {
			return nil, fmt.Errorf("allowMemberIPs: node %s: %w", g.Node, err)
		}
		m.Allow = append(m.Allow, ips...)
	}
	return m, nil
}

// defaultFormat is the format a node's machines boot when nothing says:
// Ignition when it was rendered, else cloud-init.
func (n *Node) defaultFormat() string {
	if n.Ignition == nil && n.UserData != nil {
		return spec.FormatCloudInit
	}
	return spec.FormatIgnition
}

// has reports whether the node was rendered in format.
func (n *Node) has(format string) bool {
	switch format {
	case spec.FormatIgnition:
		return n.Ignition != nil
	case spec.FormatCloudInit:
		return n.UserData != nil
	}
	return false
}
