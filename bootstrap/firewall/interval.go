package firewall

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
)

// The kernel stores an interval set as a sorted list of boundaries: an
// element without flags opens an interval at its key, an element flagged
// IntervalEnd closes it at its key (exclusive). So a prefix is {first address}
// then {first address after the prefix, IntervalEnd}. A prefix that reaches the
// end of the address space (0.0.0.0/0, ::/0, 255.255.255.0/24) has no end
// element: the interval stays open, which is how nft encodes it too.
// google/nftables expects exactly these elements and does no conversion.

// intervalElements encodes sorted, disjoint prefixes as interval set elements.
func intervalElements(ps []netip.Prefix) []nftables.SetElement {
	var elems []nftables.SetElement
	for _, p := range ps {
		elems = append(elems, nftables.SetElement{Key: p.Addr().AsSlice()})
		if next := lastAddr(p).Next(); next.IsValid() {
			elems = append(elems, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
		}
	}
	return elems
}

// addrElements encodes single addresses as set elements.
func addrElements(as []netip.Addr) []nftables.SetElement {
	elems := make([]nftables.SetElement, 0, len(as))
	for _, a := range as {
		elems = append(elems, nftables.SetElement{Key: a.AsSlice()})
	}
	return elems
}

// elementAddr decodes a set element key of the set's family.
func elementAddr(e nftables.SetElement, ipv6 bool) (netip.Addr, error) {
	a, ok := netip.AddrFromSlice(e.Key)
	if !ok || a.Is6() != ipv6 {
		return netip.Addr{}, fmt.Errorf("set element key %x is not an IPv%d address", e.Key, map[bool]int{false: 4, true: 6}[ipv6])
	}
	return a, nil
}

// prefixesFromElements decodes the elements of an interval set, in whatever
// order the kernel dumps them, back into sorted prefixes. It reads any
// interval set, not only those Apply writes: nft adds a leading
// {0, IntervalEnd} element, and a range added by hand (10.0.0.1-10.0.0.6)
// comes back as the smallest list of prefixes covering exactly that range.
func prefixesFromElements(elems []nftables.SetElement, ipv6 bool) ([]netip.Prefix, error) {
	type bound struct {
		addr netip.Addr
		end  bool
	}
	bounds := make([]bound, 0, len(elems))
	for _, e := range elems {
		a, err := elementAddr(e, ipv6)
		if err != nil {
			return nil, err
		}
		bounds = append(bounds, bound{a, e.IntervalEnd})
	}
	// At equal keys the end comes first: [a,b) and [b,c) are two intervals.
	slices.SortFunc(bounds, func(x, y bound) int {
		if c := x.addr.Compare(y.addr); c != 0 {
			return c
		}
		switch {
		case x.end == y.end:
			return 0
		case x.end:
			return -1
		default:
			return 1
		}
	})
	var out []netip.Prefix
	var start netip.Addr
	open := false
	for _, b := range bounds {
		switch {
		case !b.end && !open:
			start, open = b.addr, true
		case b.end && open:
			open = false
			if b.addr.Compare(start) > 0 {
				out = append(out, rangePrefixes(start, b.addr.Prev())...)
			}
		}
		// A start inside an open interval extends it; an end outside one
		// (nft's leading {0, IntervalEnd}) closes nothing.
	}
	if open {
		out = append(out, rangePrefixes(start, maxAddr(ipv6))...)
	}
	return out, nil
}

// lastAddr returns the last address inside p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// maxAddr returns 255.255.255.255 or ffff:...:ffff.
func maxAddr(ipv6 bool) netip.Addr {
	if ipv6 {
		return lastAddr(netip.PrefixFrom(netip.IPv6Unspecified(), 0))
	}
	return lastAddr(netip.PrefixFrom(netip.IPv4Unspecified(), 0))
}

// rangePrefixes returns the fewest prefixes covering exactly first..last.
func rangePrefixes(first, last netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for first.IsValid() && first.Compare(last) <= 0 {
		// The largest aligned block starting at first that stays within last.
		for bits := 0; bits <= first.BitLen(); bits++ {
			p := netip.PrefixFrom(first, bits)
			if p.Masked().Addr() != first || lastAddr(p).Compare(last) > 0 {
				continue
			}
			out = append(out, p)
			first = lastAddr(p).Next() // invalid after the last address: stop
			break
		}
	}
	return out
}
