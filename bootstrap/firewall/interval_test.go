package firewall

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/google/nftables"
)

// elem is a readable set element: "10.0.0.0" or "10.0.1.0 end".
func elemString(e nftables.SetElement) string {
	a, _ := netip.AddrFromSlice(e.Key)
	if e.IntervalEnd {
		return a.String() + " end"
	}
	return a.String()
}

func elemStrings(es []nftables.SetElement) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = elemString(e)
	}
	return out
}

func TestIntervalElementsEncodeExclusiveEnds(t *testing.T) {
	tests := []struct {
		prefix string
		want   []string
	}{
		{"10.123.0.0/24", []string{"10.123.0.0", "10.123.1.0 end"}},
		{"0.0.0.0/0", []string{"0.0.0.0"}}, // open: no address after the last one
		{"10.0.0.5/32", []string{"10.0.0.5", "10.0.0.6 end"}},
		{"255.255.255.0/24", []string{"255.255.255.0"}},
		{"10.255.255.255/32", []string{"10.255.255.255", "11.0.0.0 end"}},
		{"fd00::/8", []string{"fd00::", "fe00:: end"}},
		{"::/0", []string{"::"}},
		{"2001:db8::1/128", []string{"2001:db8::1", "2001:db8::2 end"}},
		{"ffff::/16", []string{"ffff::"}},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			p := netip.MustParsePrefix(tt.prefix)
			es := intervalElements([]netip.Prefix{p})
			if got := elemStrings(es); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("intervalElements(%s) = %q, want %q", p, got, tt.want)
			}
			for _, e := range es {
				if len(e.Key) != p.Addr().BitLen()/8 {
					t.Errorf("key %x has %d bytes, want %d", e.Key, len(e.Key), p.Addr().BitLen()/8)
				}
			}
			back, err := prefixesFromElements(es, p.Addr().Is6())
			if err != nil || !reflect.DeepEqual(back, []netip.Prefix{p}) {
				t.Errorf("prefixesFromElements = %v, %v; want [%s]", back, err, p)
			}
		})
	}
}

func TestPrefixesFromElementsReadsKernelAndNftEncodings(t *testing.T) {
	e := func(s string, end bool) nftables.SetElement {
		return nftables.SetElement{Key: netip.MustParseAddr(s).AsSlice(), IntervalEnd: end}
	}
	tests := []struct {
		name  string
		elems []nftables.SetElement
		want  []netip.Prefix
	}{
		{
			// The kernel dumps its rbtree in reverse; nft adds {0, end}.
			name:  "nft encoding dumped in reverse",
			elems: []nftables.SetElement{e("10.123.2.0", true), e("10.123.1.0", false), e("10.123.1.0", true), e("10.123.0.0", false), e("10.0.0.6", true), e("10.0.0.5", false), e("0.0.0.0", true)},
			want:  prefixes("10.0.0.5/32", "10.123.0.0/24", "10.123.1.0/24"),
		},
		{
			name:  "range added by hand",
			elems: []nftables.SetElement{e("10.0.0.1", false), e("10.0.0.7", true)},
			want:  prefixes("10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"),
		},
		{
			name:  "open interval",
			elems: []nftables.SetElement{e("128.0.0.0", false)},
			want:  prefixes("128.0.0.0/1"),
		},
		{
			name:  "empty",
			elems: nil,
			want:  nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := prefixesFromElements(tt.elems, false)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("prefixesFromElements = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := prefixesFromElements([]nftables.SetElement{e("fd00::", false)}, false); err == nil {
		t.Error("an IPv6 key in an IPv4 set decoded without error")
	}
}

func TestRangePrefixesCoverExactlyTheRange(t *testing.T) {
	for _, r := range [][2]string{
		{"10.0.0.0", "10.0.0.255"},
		{"10.0.0.1", "10.0.1.6"},
		{"0.0.0.0", "255.255.255.255"},
		{"255.255.255.254", "255.255.255.255"},
		{"fd00::3", "fd00::1:0"},
	} {
		first, last := netip.MustParseAddr(r[0]), netip.MustParseAddr(r[1])
		ps := rangePrefixes(first, last)
		t.Run(fmt.Sprint(r), func(t *testing.T) {
			if len(ps) == 0 || ps[0].Addr() != first || lastAddr(ps[len(ps)-1]) != last {
				t.Fatalf("rangePrefixes = %v does not span %s-%s", ps, first, last)
			}
			for i := 1; i < len(ps); i++ {
				if lastAddr(ps[i-1]).Next() != ps[i].Addr() {
					t.Errorf("gap or overlap between %s and %s", ps[i-1], ps[i])
				}
				if ps[i].Masked() != ps[i] {
					t.Errorf("%s is not a canonical prefix", ps[i])
				}
			}
			if !slices.IsSortedFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }) {
				t.Errorf("not sorted: %v", ps)
			}
		})
	}
}
