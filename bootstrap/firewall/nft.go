package firewall

import (
	"fmt"
	"strings"
)

// NFT returns the ruleset of p as an nft script. It starts with
// "table inet T\ndelete table inet T\n" so that `nft -f` replaces the table
// atomically whether or not it exists; it is what `etcdboot-agent firewall
// show` prints. The elements are in canonical order (see Canonical). NFT does
// not validate p; call Validate first.
func (p Policy) NFT() string {
	p = p.Canonical()
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\n", p.Table, p.Table)
	fmt.Fprintf(&b, "table inet %s {\n", p.Table)
	for _, s := range allSets {
		fmt.Fprintf(&b, "\tset %s {\n\t\ttype %s\n", s.name, s.nftType())
		var elems []string
		if s.interval {
			b.WriteString("\t\tflags interval\n")
			for _, pfx := range p.prefixes(s) {
				elems = append(elems, pfx.String())
			}
		} else {
			for _, a := range p.addrs(s) {
				elems = append(elems, a.String())
			}
		}
		if len(elems) > 0 {
			fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(elems, ", "))
		}
		b.WriteString("\t}\n\n")
	}
	fmt.Fprintf(&b, "\tchain %s {\n", chainName)
	b.WriteString("\t\ttype filter hook input priority 0; policy accept;\n")
	for _, r := range p.rules() {
		fmt.Fprintf(&b, "\t\t%s\n", r.nft())
	}
	b.WriteString("\t}\n")
	if rs := p.metadataRules(); len(rs) > 0 {
		fmt.Fprintf(&b, "\n\tchain %s {\n", outputChainName)
		b.WriteString("\t\ttype filter hook output priority 0; policy accept;\n")
		for _, r := range rs {
			fmt.Fprintf(&b, "\t\t%s\n", r.nft())
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// nft renders one output rule the way `nft list` prints it; nft lists uids
// as numbers unless given -u.
func (r metadataRule) nft() string {
	family := "ip"
	if r.addr.Is6() {
		family = "ip6"
	}
	return fmt.Sprintf("%s daddr %s meta skuid != 0 reject with icmpx admin-prohibited", family, r.addr)
}

// nft renders one rule the way `nft list` prints it.
func (r rule) nft() string {
	s := fmt.Sprintf("tcp dport %d", r.port)
	switch r.source {
	case fromLoopback:
		s += ` iifname "lo"`
	case fromSet, fromSetNotLoopback:
		if r.source == fromSetNotLoopback {
			s += ` iifname != "lo"`
		}
		if r.set.ipv6 {
			s += " ip6 saddr @" + r.set.name
		} else {
			s += " ip saddr @" + r.set.name
		}
	}
	switch r.verdict {
	case verdictAccept:
		return s + " accept"
	case verdictReset:
		return s + " reject with tcp reset"
	}
	return s + " drop"
}
