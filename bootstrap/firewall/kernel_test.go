package firewall

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// listTable returns `nft list table` of the namespace; with handles it also
// shows the table, set, chain and rule handles, which change on any replace.
func (ns *netNS) listTable(t *testing.T, table string, handles bool) string {
	t.Helper()
	args := []string{"list", "table", "inet", table}
	if handles {
		args = append([]string{"-a"}, args...)
	}
	return ns.nft(t, args...)
}

// setElements reads every set of the table from `nft -j list table`, each
// element as nft prints it: "10.0.0.1", "10.0.0.0/24" or "10.0.0.1-10.0.0.6".
func (ns *netNS) setElements(t *testing.T, table string) map[string][]string {
	t.Helper()
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	out := ns.nft(t, "-j", "list", "table", "inet", table)
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("parse nft -j output: %v\n%s", err, out)
	}
	sets := map[string][]string{}
	for _, obj := range doc.Nftables {
		raw, ok := obj["set"]
		if !ok {
			continue
		}
		var set struct {
			Name string            `json:"name"`
			Elem []json.RawMessage `json:"elem"`
		}
		if err := json.Unmarshal(raw, &set); err != nil {
			t.Fatal(err)
		}
		elems := []string{}
		for _, e := range set.Elem {
			elems = append(elems, jsonElem(t, e))
		}
		sets[set.Name] = elems
	}
	return sets
}

func jsonElem(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var e struct {
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
		Range []string `json:"range"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("element %s: %v", raw, err)
	}
	switch {
	case e.Prefix != nil:
		return fmt.Sprintf("%s/%d", e.Prefix.Addr, e.Prefix.Len)
	case len(e.Range) == 2:
		return e.Range[0] + "-" + e.Range[1]
	}
	t.Fatalf("unknown element %s", raw)
	return ""
}

// chainRules returns the rules of the input chain as `nft list` prints them.
func chainRules(listing string) []string { return chainRulesOf(listing, chainName) }

// chainRulesOf returns the rules of chain as `nft list` prints them.
func chainRulesOf(listing, chain string) []string {
	var rules []string
	in := false
	for _, line := range strings.Split(listing, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "chain "+chain+" "):
			in = true
		case in && line == "}":
			return rules
		case in && line != "" && !strings.HasPrefix(line, "type "):
			rules = append(rules, line)
		}
	}
	return rules
}

func TestApplyCreatesSetsAndRules(t *testing.T) {
	ns := newNetNS(t)
	if err := Apply(representativePolicy(), ns.opt()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	gotSets := ns.setElements(t, DefaultTable)
	// nft prints a /32 as the bare address.
	wantSets := map[string][]string{
		"peers4":      {"10.123.250.1", "10.123.250.2", "10.123.250.3"},
		"peers6":      {"fd00:123:250::1"},
		"clients4":    {"10.0.0.5", "10.123.0.0/24"},
		"clients6":    {"fd00::/8"},
		"monitoring4": {"0.0.0.0/0"},
		"monitoring6": {"2001:db8:1::/48"},
	}
	for _, elems := range gotSets {
		slices.Sort(elems)
	}
	if !reflect.DeepEqual(gotSets, wantSets) {
		t.Errorf("set elements = %v\nwant %v", gotSets, wantSets)
	}
	listing := ns.listTable(t, DefaultTable, false)
	if !strings.Contains(listing, "type filter hook input priority filter; policy accept;") {
		t.Errorf("chain is not a filter/input/0/accept base chain:\n%s", listing)
	}
	var want []string
	for _, r := range representativePolicy().rules() {
		want = append(want, r.nft())
	}
	if got := chainRules(listing); !reflect.DeepEqual(got, want) {
		t.Errorf("rules =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestApplyMatchesNftOfNFTText loads NFT() with the real nft into one
// namespace and Apply's netlink batch into another: the kernel must hold the
// same ruleset, down to the bytecode nft shows with --debug=netlink.
func TestApplyMatchesNftOfNFTText(t *testing.T) {
	for name, p := range goldenPolicies() {
		t.Run(name, func(t *testing.T) {
			viaNft, viaNetlink := newNetNS(t), newNetNS(t)
			viaNft.nftFile(t, p.NFT())
			if err := Apply(p, viaNetlink.opt()); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			table := p.Canonical().Table
			a, b := viaNft.listTable(t, table, false), viaNetlink.listTable(t, table, false)
			if a != b {
				t.Errorf("nft -f NFT():\n%s\nApply:\n%s", a, b)
			}
			// Only the rules' bytecode: set elements legitimately differ (nft
			// adds a leading {0, end} element and userdata on open intervals).
			bytecode := func(ns *netNS, chain string) string {
				var b strings.Builder
				out := ns.nft(t, "--debug=netlink", "list", "chain", "inet", table, chain)
				for _, line := range strings.Split(out, "\n") {
					if strings.HasPrefix(line, "inet "+table+" "+chain) || strings.HasPrefix(line, "  [ ") {
						b.WriteString(line + "\n")
					}
				}
				if b.Len() == 0 {
					t.Fatalf("no rule bytecode in nft --debug=netlink output:\n%s", out)
				}
				return b.String()
			}
			chains := []string{chainName}
			if len(p.MetadataAddrs) > 0 {
				chains = append(chains, outputChainName)
			}
			for _, chain := range chains {
				if a, b := bytecode(viaNft, chain), bytecode(viaNetlink, chain); a != b {
					t.Errorf("chain %s: bytecode differs:\nnft -f NFT():\n%s\nApply:\n%s", chain, a, b)
				}
			}
			// Current reads both back, including nft's own interval encoding.
			for label, ns := range map[string]*netNS{"nft": viaNft, "netlink": viaNetlink} {
				got, err := Current(table, ns.opt())
				if err != nil {
					t.Errorf("%s: Current: %v", label, err)
				} else if !got.Equal(p) {
					t.Errorf("%s: Current = %+v, want %+v", label, got, p.Canonical())
				}
			}
		})
	}
}

var tableHandle = regexp.MustCompile(`(?m)^table inet \S+ \{ # handle (\d+)$`)

// TestReapplyIdenticalPolicyIsNoOp checks Apply skips identical state: the
// kernel assigns a new table handle on any replace, so equal `nft -a list`
// output (handles included) before and after proves nothing was rewritten.
func TestReapplyIdenticalPolicyIsNoOp(t *testing.T) {
	ns := newNetNS(t)
	p := representativePolicy()
	if err := Apply(p, ns.opt()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	before := ns.listTable(t, DefaultTable, true)
	if !tableHandle.MatchString(before) {
		t.Fatalf("no table handle in listing:\n%s", before)
	}
	shuffled := p
	shuffled.Peers = slices.Clone(p.Peers)
	slices.Reverse(shuffled.Peers)
	shuffled.MetadataAddrs = slices.Clone(p.MetadataAddrs)
	slices.Reverse(shuffled.MetadataAddrs)
	for _, q := range []Policy{p, shuffled, p.Canonical()} {
		if err := Apply(q, ns.opt()); err != nil {
			t.Fatalf("re-Apply: %v", err)
		}
		if after := ns.listTable(t, DefaultTable, true); after != before {
			t.Fatalf("re-applying an identical policy changed the kernel:\nbefore\n%s\nafter\n%s", before, after)
		}
	}

	// A different policy is applied, by replacing the table.
	q := p
	q.MonitoringCIDRs = prefixes("10.123.9.0/24")
	if err := Apply(q, ns.opt()); err != nil {
		t.Fatalf("Apply changed policy: %v", err)
	}
	after := ns.listTable(t, DefaultTable, true)
	if tableHandle.FindStringSubmatch(after)[1] == tableHandle.FindStringSubmatch(before)[1] {
		t.Errorf("a changed policy kept the table handle: was it applied?\n%s", after)
	}
	if got := ns.setElements(t, DefaultTable)["monitoring4"]; !reflect.DeepEqual(got, []string{"10.123.9.0/24"}) {
		t.Errorf("monitoring4 = %v after applying a changed policy", got)
	}
}

// TestApplyRepairsDrift changes the live table behind Apply's back; Current
// must notice and Apply must put the exact ruleset back.
func TestApplyRepairsDrift(t *testing.T) {
	p := representativePolicy()
	drifts := []struct {
		name  string
		drift func(t *testing.T, ns *netNS)
		want  error // from Current; nil when drift is only in the data
	}{
		{"verdict flipped", func(t *testing.T, ns *netNS) {
			h := ruleHandle(t, ns, "tcp dport 2380 drop")
			ns.nft(t, "replace", "rule", "inet", DefaultTable, chainName, "handle", h, "tcp", "dport", "2380", "accept")
		}, ErrDrift},
		{"rule deleted", func(t *testing.T, ns *netNS) {
			ns.nft(t, "delete", "rule", "inet", DefaultTable, chainName, "handle", ruleHandle(t, ns, "tcp dport 2381 drop"))
		}, ErrDrift},
		{"agent metrics rule deleted", func(t *testing.T, ns *netNS) {
			ns.nft(t, "delete", "rule", "inet", DefaultTable, chainName, "handle", ruleHandle(t, ns, "tcp dport 2382 ip saddr @monitoring4 accept"))
		}, ErrDrift},
		{"rule added", func(t *testing.T, ns *netNS) {
			ns.nft(t, "add", "rule", "inet", DefaultTable, chainName, "tcp", "dport", "22", "accept")
		}, ErrDrift},
		{"counter added", func(t *testing.T, ns *netNS) {
			h := ruleHandle(t, ns, "tcp dport 2380 drop")
			ns.nft(t, "replace", "rule", "inet", DefaultTable, chainName, "handle", h, "tcp", "dport", "2380", "counter", "drop")
		}, ErrDrift},
		{"chain policy drop", func(t *testing.T, ns *netNS) {
			ns.nft(t, "add", "chain", "inet", DefaultTable, chainName, "{ type filter hook input priority 0; policy drop; }")
		}, ErrDrift},
		{"extra chain", func(t *testing.T, ns *netNS) {
			ns.nft(t, "add", "chain", "inet", DefaultTable, "other")
		}, ErrDrift},
		{"metadata rule deleted", func(t *testing.T, ns *netNS) {
			h := ruleHandle(t, ns, "ip6 daddr fd00:ec2::254 meta skuid != 0 reject with icmpx admin-prohibited")
			ns.nft(t, "delete", "rule", "inet", DefaultTable, outputChainName, "handle", h)
		}, nil},
		{"metadata rule opened to another uid", func(t *testing.T, ns *netNS) {
			h := ruleHandle(t, ns, "ip daddr 169.254.169.254 meta skuid != 0 reject with icmpx admin-prohibited")
			ns.nft(t, "replace", "rule", "inet", DefaultTable, outputChainName, "handle", h, "ip", "daddr", "169.254.169.254", "meta", "skuid", "!=", "{ 0, 998 }", "reject", "with", "icmpx", "admin-prohibited")
		}, ErrDrift},
		{"metadata rule turned into accept", func(t *testing.T, ns *netNS) {
			h := ruleHandle(t, ns, "ip daddr 169.254.169.254 meta skuid != 0 reject with icmpx admin-prohibited")
			ns.nft(t, "replace", "rule", "inet", DefaultTable, outputChainName, "handle", h, "ip", "daddr", "169.254.169.254", "meta", "skuid", "!=", "0", "accept")
		}, ErrDrift},
		{"metadata address added", func(t *testing.T, ns *netNS) {
			// Last in canonical order: the chain still has Apply's shape.
			ns.nft(t, "add", "rule", "inet", DefaultTable, outputChainName, "ip6", "daddr", "fd00:ec2::fffe", "meta", "skuid", "!=", "0", "reject", "with", "icmpx", "admin-prohibited")
		}, nil},
		{"metadata address added out of order", func(t *testing.T, ns *netNS) {
			ns.nft(t, "add", "rule", "inet", DefaultTable, outputChainName, "ip", "daddr", "169.254.170.2", "meta", "skuid", "!=", "0", "reject", "with", "icmpx", "admin-prohibited")
		}, ErrDrift},
		{"earlier rule in output chain", func(t *testing.T, ns *netNS) {
			ns.nft(t, "insert", "rule", "inet", DefaultTable, outputChainName, "ip", "daddr", "169.254.169.254", "accept")
		}, ErrDrift},
		{"output chain flushed", func(t *testing.T, ns *netNS) {
			ns.nft(t, "flush", "chain", "inet", DefaultTable, outputChainName)
		}, ErrDrift},
		{"output chain deleted", func(t *testing.T, ns *netNS) {
			ns.nft(t, "delete", "chain", "inet", DefaultTable, outputChainName)
		}, nil},
		{"output chain policy drop", func(t *testing.T, ns *netNS) {
			ns.nft(t, "add", "chain", "inet", DefaultTable, outputChainName, "{ type filter hook output priority 0; policy drop; }")
		}, ErrDrift},
		{"peer added", func(t *testing.T, ns *netNS) {
			ns.nft(t, "add", "element", "inet", DefaultTable, "peers4", "{ 10.9.9.9 }")
		}, nil},
		{"client CIDR removed", func(t *testing.T, ns *netNS) {
			ns.nft(t, "delete", "element", "inet", DefaultTable, "clients4", "{ 10.123.0.0/24 }")
		}, nil},
	}
	for _, d := range drifts {
		t.Run(d.name, func(t *testing.T) {
			ns := newNetNS(t)
			if err := Apply(p, ns.opt()); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			want := ns.listTable(t, DefaultTable, false)
			d.drift(t, ns)
			if ns.listTable(t, DefaultTable, false) == want {
				t.Fatal("the drift did not change the table")
			}
			cur, err := Current("", ns.opt())
			switch {
			case d.want != nil && !errors.Is(err, d.want):
				t.Errorf("Current after drift: err = %v, want %v", err, d.want)
			case d.want == nil && (err != nil || cur.Equal(p)):
				t.Errorf("Current after drift = %+v, %v; want a different policy", cur, err)
			}
			if err := Apply(p, ns.opt()); err != nil {
				t.Fatalf("Apply after drift: %v", err)
			}
			if got := ns.listTable(t, DefaultTable, false); got != want {
				t.Errorf("Apply did not restore the ruleset:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// ruleHandle finds the handle of the rule nft prints as rule.
func ruleHandle(t *testing.T, ns *netNS, rule string) string {
	t.Helper()
	for _, line := range strings.Split(ns.listTable(t, DefaultTable, true), "\n") {
		if r, h, ok := strings.Cut(strings.TrimSpace(line), " # handle "); ok && r == rule {
			return h
		}
	}
	t.Fatalf("no rule %q", rule)
	return ""
}

func TestReplacePeersSwapsElementsOnly(t *testing.T) {
	ns := newNetNS(t)
	p := representativePolicy()
	if err := Apply(p, ns.opt()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	before := ns.listTable(t, DefaultTable, true)
	setsBefore := ns.setElements(t, DefaultTable)

	peers := addrs("10.123.250.7", "fd00:123:250::7", "fd00:123:250::8", "10.123.250.2")
	if err := ReplacePeers(DefaultTable, peers, ns.opt()); err != nil {
		t.Fatalf("ReplacePeers: %v", err)
	}
	after := ns.listTable(t, DefaultTable, true)
	if got, want := chainRules(after), chainRules(before); !reflect.DeepEqual(got, want) {
		t.Errorf("rules changed (handles included):\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if a, b := tableHandle.FindString(after), tableHandle.FindString(before); a != b {
		t.Errorf("table was replaced: %q, was %q", a, b)
	}
	setsAfter := ns.setElements(t, DefaultTable)
	wantSets := setsBefore
	wantSets["peers4"] = []string{"10.123.250.2", "10.123.250.7"}
	wantSets["peers6"] = []string{"fd00:123:250::7", "fd00:123:250::8"}
	for _, elems := range setsAfter {
		slices.Sort(elems)
	}
	for _, elems := range wantSets {
		slices.Sort(elems)
	}
	if !reflect.DeepEqual(setsAfter, wantSets) {
		t.Errorf("sets = %v\nwant %v", setsAfter, wantSets)
	}
	cur, err := Current(DefaultTable, ns.opt())
	want := p
	want.Peers = peers
	if err != nil || !cur.Equal(want) {
		t.Errorf("Current = %+v, %v; want %+v", cur, err, want.Canonical())
	}

	// No peers left at all is a valid membership.
	if err := ReplacePeers(DefaultTable, nil, ns.opt()); err != nil {
		t.Fatalf("ReplacePeers(nil): %v", err)
	}
	if s := ns.setElements(t, DefaultTable); len(s["peers4"])+len(s["peers6"]) != 0 {
		t.Errorf("peer sets not emptied: %v", s)
	}
}

// TestReplacePeersIsAtomic makes the second half of the batch fail (the table
// has no peers6 set): the flush of peers4 in the first half must be rolled
// back with it.
func TestReplacePeersIsAtomic(t *testing.T) {
	ns := newNetNS(t)
	ns.nftFile(t, "table inet "+DefaultTable+" {\n\tset peers4 { type ipv4_addr; elements = { 10.123.250.1 } }\n}\n")
	err := ReplacePeers(DefaultTable, addrs("10.123.250.9", "fd00::9"), ns.opt())
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("ReplacePeers into a table without peers6: err = %v, want ErrNotFound", err)
	}
	if got := ns.setElements(t, DefaultTable)["peers4"]; !reflect.DeepEqual(got, []string{"10.123.250.1"}) {
		t.Errorf("peers4 = %v after a failed batch, want it untouched: [10.123.250.1]", got)
	}
}

func TestReplacePeersWithoutTableFails(t *testing.T) {
	ns := newNetNS(t)
	err := ReplacePeers("", addrs("10.123.250.1"), ns.opt())
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
	if err := ReplacePeers("", []netip.Addr{{}}, ns.opt()); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("invalid peer: err = %v, want ErrInvalidPolicy", err)
	}
}

func TestCurrentRoundTrips(t *testing.T) {
	policies := goldenPolicies()
	policies["adjacent and open prefixes"] = Policy{
		ClientPort: 2379, PeerPort: 2380, MetricsPort: 2381, AgentMetricsPort: 2382,
		Peers:           addrs("10.123.250.1"),
		ClientCIDRs:     prefixes("10.123.0.0/25", "10.123.0.128/25", "10.123.1.0/24", "255.255.255.255/32", "::/0"),
		MonitoringCIDRs: prefixes("10.0.0.5/32", "10.0.0.6/32", "fd00::/8", "fe00::/8"),
	}
	for name, p := range policies {
		t.Run(name, func(t *testing.T) {
			ns := newNetNS(t)
			if err := Apply(p, ns.opt()); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			got, err := Current(p.Table, ns.opt())
			if err != nil {
				t.Fatalf("Current: %v", err)
			}
			if want := p.Canonical(); !reflect.DeepEqual(got, want) {
				t.Errorf("Current =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestRemoveDeletesTable(t *testing.T) {
	ns := newNetNS(t)
	if err := Apply(representativePolicy(), ns.opt()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	ns.nftFile(t, "table inet other { chain c { type filter hook input priority 10; }; }\n")
	if err := Remove("", ns.opt()); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if got := ns.nft(t, "list", "tables"); got != "table inet other\n" {
		t.Errorf("tables after Remove = %q, want only the unrelated one", got)
	}
	if _, err := Current("", ns.opt()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Current after Remove: err = %v, want ErrNotFound", err)
	}
	if err := Remove("", ns.opt()); err != nil {
		t.Errorf("Remove of a missing table: %v", err)
	}
}

func TestApplyRejectsInvalidPolicyWithoutTouchingKernel(t *testing.T) {
	ns := newNetNS(t)
	p := representativePolicy()
	p.PeerPort = 0
	if err := Apply(p, ns.opt()); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("Apply: err = %v, want ErrInvalidPolicy", err)
	}
	if got := ns.nft(t, "list", "tables"); got != "" {
		t.Errorf("tables = %q, want none", got)
	}
}

func TestWithNetNSRejectsBadFD(t *testing.T) {
	for _, fd := range []int{0, -1} {
		if err := Apply(DefaultPolicy(), WithNetNS(fd)); err == nil || !strings.Contains(err.Error(), "WithNetNS") {
			t.Errorf("Apply(WithNetNS(%d)) = %v, want a WithNetNS error", fd, err)
		}
	}
}
