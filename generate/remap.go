package generate

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/etcdboot/etcdboot/spec"
)

// Remap moves addresses from one subnet to another of the same size, so an
// example written for 192.168.2.0/24 can run in a lab on 10.123.0.0/24
// without editing it.
type Remap struct {
	From, To netip.Prefix
}

// ParseRemap parses "FROM=TO", e.g. "192.168.2.0/24=10.123.0.0/24".
func ParseRemap(s string) (Remap, error) {
	from, to, ok := strings.Cut(s, "=")
	if !ok {
		return Remap{}, fmt.Errorf("remap %q: want FROM=TO, e.g. 192.168.2.0/24=10.123.0.0/24", s)
	}
	f, err := netip.ParsePrefix(from)
	if err != nil {
		return Remap{}, fmt.Errorf("remap %q: %w", s, err)
	}
	t, err := netip.ParsePrefix(to)
	if err != nil {
		return Remap{}, fmt.Errorf("remap %q: %w", s, err)
	}
	if f.Bits() != t.Bits() || f.Addr().Is4() != t.Addr().Is4() {
		return Remap{}, fmt.Errorf("remap %q: both sides must be subnets of the same family and size", s)
	}
	return Remap{From: f.Masked(), To: t.Masked()}, nil
}

// addr maps ip when it lies in From.
func (r Remap) addr(ip netip.Addr) netip.Addr {
	if !r.From.Contains(ip) {
		return ip
	}
	dst, out := r.To.Addr().AsSlice(), ip.AsSlice()
	for i := range out {
		// Take the network bits from To and keep the host bits of ip.
		bits := min(max(r.From.Bits()-i*8, 0), 8)
		mask := byte(0xff) << (8 - bits)
		out[i] = dst[i]&mask | out[i]&^mask
	}
	res, _ := netip.AddrFromSlice(out)
	return res
}

func (r Remap) str(s string) string {
	if ip, err := netip.ParseAddr(s); err == nil {
		return r.addr(ip).String()
	}
	if p, err := netip.ParsePrefix(s); err == nil && r.From.Contains(p.Addr()) && p.Bits() >= r.From.Bits() {
		return netip.PrefixFrom(r.addr(p.Addr()), p.Bits()).String()
	}
	if p, err := netip.ParsePrefix(s); err == nil && p.Masked() == r.From {
		return netip.PrefixFrom(r.To.Addr(), p.Bits()).String()
	}
	return s
}

func (r Remap) strs(list []string) {
	for i, s := range list {
		list[i] = r.str(s)
	}
}

// apply rewrites every address and CIDR of c that lies in From.
func (r Remap) apply(c *spec.Cluster) {
	for i := range c.Members {
		r.strs(c.Members[i].IPs)
	}
	r.strs(c.Firewall.ClientCIDRs)
	r.strs(c.Firewall.MonitoringCIDRs)
	if a := c.Autoscaling; a != nil {
		r.strs(a.Subnets)
		r.strs(a.Seeds)
	}
	if d := c.Discovery.DNS; d != nil && d.Server != "" {
		if ap, err := netip.ParseAddrPort(d.Server); err == nil {
			d.Server = netip.AddrPortFrom(r.addr(ap.Addr()), ap.Port()).String()
		}
	}
	if d := c.Discovery.Etcd; d != nil {
		for i, e := range d.Endpoints {
			for _, part := range strings.Split(strings.TrimPrefix(strings.TrimPrefix(e, "https://"), "http://"), ":")[:1] {
				if ip, err := netip.ParseAddr(part); err == nil {
					d.Endpoints[i] = strings.Replace(e, part, r.addr(ip).String(), 1)
				}
			}
		}
	}
}

// ParseRemaps parses every FROM=TO of a repeated --remap flag.
func ParseRemaps(list []string) ([]Remap, error) {
	var out []Remap
	for _, s := range list {
		r, err := ParseRemap(s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
