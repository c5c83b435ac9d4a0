package firewall

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestApplyAddsOutputChainForMetadata(t *testing.T) {
	ns := newNetNS(t)
	p := representativePolicy()
	if err := Apply(p, ns.opt()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	listing := ns.listTable(t, DefaultTable, false)
	if !strings.Contains(listing, "type filter hook output priority filter; policy accept;") {
		t.Errorf("no filter/output/0/accept base chain:\n%s", listing)
	}
	want := []string{
		"ip daddr 100.100.100.200 meta skuid != 0 reject with icmpx admin-prohibited",
		"ip daddr 169.254.169.254 meta skuid != 0 reject with icmpx admin-prohibited",
		"ip6 daddr fd00:ec2::254 meta skuid != 0 reject with icmpx admin-prohibited",
	}
	if got := chainRulesOf(listing, outputChainName); !reflect.DeepEqual(got, want) {
		t.Errorf("output rules =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The input chain is what it was before metadata addresses existed.
	var input []string
	for _, r := range p.rules() {
		input = append(input, r.nft())
	}
	if got := chainRules(listing); !reflect.DeepEqual(got, input) {
		t.Errorf("input rules =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(input, "\n"))
	}
}

// TestApplyAddsAndRemovesOutputChain goes from a table of before the output
// chain existed to one with it and back: each step replaces the table and
// Current reads the metadata addresses (or none) back.
func TestApplyAddsAndRemovesOutputChain(t *testing.T) {
	ns := newNetNS(t)
	without := representativePolicy()
	without.MetadataAddrs = nil
	with := representativePolicy()
	for i, p := range []Policy{without, with, without, DefaultPolicy()} {
		if err := Apply(p, ns.opt()); err != nil {
			t.Fatalf("step %d: Apply: %v", i, err)
		}
		listing := ns.listTable(t, DefaultTable, false)
		hasOutput := strings.Contains(listing, "chain "+outputChainName)
		if hasOutput != (len(p.MetadataAddrs) > 0) {
			t.Errorf("step %d: output chain present = %v with %d metadata addresses:\n%s", i, hasOutput, len(p.MetadataAddrs), listing)
		}
		got, err := Current("", ns.opt())
		if err != nil {
			t.Fatalf("step %d: Current: %v", i, err)
		}
		if !reflect.DeepEqual(got, p.Canonical()) {
			t.Errorf("step %d: Current =\n%+v\nwant\n%+v", i, got, p.Canonical())
		}
	}
}

// TestApplyReplacesForeignOutputChain: an output chain in a policy without
// metadata addresses is drift, and Apply removes it.
func TestApplyReplacesForeignOutputChain(t *testing.T) {
	ns := newNetNS(t)
	p := DefaultPolicy()
	p.MetadataAddrs = nil
	if err := Apply(p, ns.opt()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := ns.listTable(t, DefaultTable, false)
	ns.nft(t, "add", "chain", "inet", DefaultTable, outputChainName, "{ type filter hook output priority 0; policy accept; }")
	if _, err := Current("", ns.opt()); !errors.Is(err, ErrDrift) {
		t.Errorf("Current with an empty output chain: err = %v, want ErrDrift", err)
	}
	if err := Apply(p, ns.opt()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := ns.listTable(t, DefaultTable, false); got != want {
		t.Errorf("Apply left\n%s\nwant\n%s", got, want)
	}
}
