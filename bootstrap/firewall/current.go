package firewall

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// ErrDrift means the table exists but is not the ruleset etcdboot writes:
// someone added, removed or changed a set, chain or rule. Apply restores it.
var ErrDrift = errors.New("firewall table differs from the ruleset etcdboot writes")

// Current reads the live policy of table ("" means DefaultTable) back from the
// kernel: ports from the rules, peers and CIDRs from the set elements,
// metadata addresses from the output chain's rules, in
// Canonical form. It returns an error wrapping ErrNotFound when the table does
// not exist, and one wrapping ErrDrift when the table holds anything but the
// exact ruleset Apply would write for the policy it returns.
func Current(table string, opts ...Option) (Policy, error) {
	if table == "" {
		table = DefaultTable
	}
	if err := validateTable(table); err != nil {
		return Policy{}, fmt.Errorf("read firewall: %w", err)
	}
	o, err := newOptions(opts)
	if err != nil {
		return Policy{}, fmt.Errorf("read firewall table inet %s: %w", table, err)
	}
	c, err := o.conn()
	if err != nil {
		return Policy{}, fmt.Errorf("read firewall table inet %s: %w", table, err)
	}
	p, err := current(c, o, table)
	if err != nil {
		return Policy{}, fmt.Errorf("read firewall table inet %s: %w", table, err)
	}
	return p, nil
}

// current reads table and checks it is exactly the ruleset of the policy it
// returns.
func current(c *nftables.Conn, o options, table string) (Policy, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return Policy{}, fmt.Errorf("list tables: %w", err)
	}
	i := slices.IndexFunc(tables, func(t *nftables.Table) bool { return t.Name == table })
	if i < 0 {
		return Policy{}, fmt.Errorf("%w; apply a policy first", ErrNotFound)
	}
	t := tables[i]
	p := Policy{Table: table}

	hasOutput, err := checkChains(c, table)
	if err != nil {
		return Policy{}, err
	}
	if err := readSets(c, t, &p); err != nil {
		return Policy{}, err
	}
	rules, err := dumpRules(o, table, chainName)
	if err != nil {
		return Policy{}, fmt.Errorf("list rules of chain %s: %w", chainName, err)
	}
	if err := portsFromRules(rules, &p); err != nil {
		return Policy{}, err
	}
	// A held peer port differs from an open one in its first rules only,
	// the members' on the peer port.
	held := p
	held.HoldPeers = true
	p.HoldPeers = len(rules) > 0 && slices.Equal(rules[0].keys, exprKeys(held.rules()[0].exprs(nil)))
	// Everything read must be what Apply writes for p: compare rule by rule.
	want := p.rules()
	if len(rules) != len(want) {
		return Policy{}, fmt.Errorf("%w: chain %s has %d rules, want %d; re-apply the policy", ErrDrift, chainName, len(rules), len(want))
	}
	for i, r := range want {
		if !slices.Equal(rules[i].keys, exprKeys(r.exprs(nil))) {
			return Policy{}, fmt.Errorf("%w: rule %d of chain %s is not %q; re-apply the policy", ErrDrift, i+1, chainName, r.nft())
		}
	}
	if hasOutput {
		if err := readMetadataRules(o, table, &p); err != nil {
			return Policy{}, err
		}
	}
	return p.Canonical(), nil
}

// readMetadataRules fills the metadata addresses of p from the output chain
// and checks the chain holds exactly the rules Apply writes for them.
func readMetadataRules(o options, table string, p *Policy) error {
	rules, err := dumpRules(o, table, outputChainName)
	if err != nil {
		return fmt.Errorf("list rules of chain %s: %w", outputChainName, err)
	}
	if len(rules) == 0 {
		// Apply writes no output chain rather than an empty one.
		return fmt.Errorf("%w: chain %s has no rules; re-apply the policy", ErrDrift, outputChainName)
	}
	for i, r := range rules {
		if !r.daddr.IsValid() {
			return fmt.Errorf("%w: rule %d of chain %s matches no destination address; re-apply the policy", ErrDrift, i+1, outputChainName)
		}
		p.MetadataAddrs = append(p.MetadataAddrs, r.daddr)
	}
	// Canonical order and no duplicates, one rule each: compare rule by rule.
	want := p.metadataRules()
	if len(rules) != len(want) {
		return fmt.Errorf("%w: chain %s has %d rules, want %d; re-apply the policy", ErrDrift, outputChainName, len(rules), len(want))
	}
	for i, r := range want {
		if !slices.Equal(rules[i].keys, exprKeys(r.exprs())) {
			return fmt.Errorf("%w: rule %d of chain %s is not %q; re-apply the policy", ErrDrift, i+1, outputChainName, r.nft())
		}
	}
	return nil
}

// checkChains verifies the table has exactly our base chains: input, and
// output if any; it reports whether output is there.
func checkChains(c *nftables.Conn, table string) (hasOutput bool, err error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list chains: %w", err)
	}
	var found []*nftables.Chain
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == table {
			found = append(found, ch)
		}
	}
	names := make([]string, len(found))
	for i, ch := range found {
		names[i] = ch.Name
	}
	slices.Sort(names)
	switch {
	case slices.Equal(names, []string{chainName}):
	case slices.Equal(names, []string{chainName, outputChainName}):
		hasOutput = true
	default:
		return false, fmt.Errorf("%w: chains %v, want %q and optionally %q; re-apply the policy", ErrDrift, names, chainName, outputChainName)
	}
	for _, ch := range found {
		hook := nftables.ChainHookInput
		if ch.Name == outputChainName {
			hook = nftables.ChainHookOutput
		}
		ok := ch.Type == nftables.ChainTypeFilter &&
			ch.Hooknum != nil && *ch.Hooknum == *hook &&
			ch.Priority != nil && *ch.Priority == *nftables.ChainPriorityFilter &&
			ch.Policy != nil && *ch.Policy == nftables.ChainPolicyAccept
		if !ok {
			return false, fmt.Errorf("%w: chain %s is not \"type filter hook %s priority 0; policy accept\"; re-apply the policy", ErrDrift, ch.Name, ch.Name)
		}
	}
	return hasOutput, nil
}

// readSets fills the peers and CIDRs of p from the set elements.
func readSets(c *nftables.Conn, t *nftables.Table, p *Policy) error {
	sets, err := c.GetSets(t)
	if err != nil {
		return fmt.Errorf("list sets: %w", err)
	}
	if len(sets) != len(allSets) {
		return fmt.Errorf("%w: %d sets, want %d; re-apply the policy", ErrDrift, len(sets), len(allSets))
	}
	for _, s := range allSets {
		i := slices.IndexFunc(sets, func(set *nftables.Set) bool { return set.Name == s.name })
		if i < 0 {
			return fmt.Errorf("%w: set %s is missing; re-apply the policy", ErrDrift, s.name)
		}
		set := sets[i]
		if set.KeyType.Name != s.nftType() || set.Interval != s.interval || set.IsMap || set.Anonymous || set.Constant || set.HasTimeout {
			return fmt.Errorf("%w: set %s is not a plain %s set (interval %v); re-apply the policy", ErrDrift, s.name, s.nftType(), s.interval)
		}
		elems, err := c.GetSetElements(set)
		if err != nil {
			return fmt.Errorf("list elements of set %s: %w", s.name, err)
		}
		if !s.interval {
			for _, e := range elems {
				a, err := elementAddr(e, s.ipv6)
				if err != nil {
					return fmt.Errorf("%w: set %s: %v", ErrDrift, s.name, err)
				}
				p.Peers = append(p.Peers, a)
			}
			continue
		}
		prefixes, err := prefixesFromElements(elems, s.ipv6)
		if err != nil {
			return fmt.Errorf("%w: set %s: %v", ErrDrift, s.name, err)
		}
		switch s {
		case setClients4, setClients6:
			p.ClientCIDRs = append(p.ClientCIDRs, prefixes...)
		default:
			p.MonitoringCIDRs = append(p.MonitoringCIDRs, prefixes...)
		}
	}
	return nil
}

// portsFromRules recovers the four ports from which sets each port's rules
// look up: clients* marks the client port, monitoring* etcd's metrics port
// and then (in rule order) the agent's, and the other port looking up peers*
// is the peer port. The full comparison in current catches any rule this
// reading misses.
func portsFromRules(rules []kernelRule, p *Policy) error {
	ports := map[string][]uint16{} // set name -> ports of rules looking it up
	for _, r := range rules {
		if r.port != 0 && r.set != "" && !slices.Contains(ports[r.set], r.port) {
			ports[r.set] = append(ports[r.set], r.port)
		}
	}
	one := func(set string) (uint16, error) {
		if len(ports[set]) != 1 {
			return 0, fmt.Errorf("%w: want exactly one port looking up set %s, found %v; re-apply the policy", ErrDrift, set, ports[set])
		}
		return ports[set][0], nil
	}
	var err error
	if p.ClientPort, err = one(setClients4.name); err != nil {
		return err
	}
	if mon := ports[setMonitoring4.name]; len(mon) != 2 {
		return fmt.Errorf("%w: want exactly two ports (etcd's and the agent's metrics) looking up set %s, found %v; re-apply the policy", ErrDrift, setMonitoring4.name, mon)
	}
	p.MetricsPort, p.AgentMetricsPort = ports[setMonitoring4.name][0], ports[setMonitoring4.name][1]
	peerPorts := slices.DeleteFunc(slices.Clone(ports[setPeers4.name]), func(port uint16) bool { return port == p.ClientPort })
	if len(peerPorts) != 1 {
		return fmt.Errorf("%w: want exactly one peer port looking up set %s, found %v; re-apply the policy", ErrDrift, setPeers4.name, peerPorts)
	}
	p.PeerPort = peerPorts[0]
	return nil
}

// exprKeys renders expressions for comparison, dropping what the kernel does
// not report back (the batch-local set ID of a lookup).
func exprKeys(es []expr.Any) []string {
	keys := make([]string, len(es))
	for i, e := range es {
		if l, ok := e.(*expr.Lookup); ok {
			l2 := *l
			l2.SetID = 0
			e = &l2
		}
		keys[i] = fmt.Sprintf("%T%+v", e, e)
	}
	return keys
}
