package spec

import (
	"fmt"
	"net/netip"
)

// firewall checks a firewall section, of a cluster spec (defaults applied)
// or of a node payload (as generated, or written by hand).
func (c *checker) firewall(f Firewall, path string) {
	for _, list := range []struct {
		name  string
		cidrs []string
	}{{"clientCIDRs", f.ClientCIDRs}, {"monitoringCIDRs", f.MonitoringCIDRs}} {
		for i, s := range list.cidrs {
			if _, err := netip.ParsePrefix(s); err != nil {
				c.errorf(fmt.Sprintf("%s.%s[%d]", path, list.name, i), "%q is not a CIDR; write e.g. 10.0.0.0/16", s)
			}
		}
	}
	if f.MetadataAccess != nil {
		c.metadataAccess(f, path+".metadataAccess")
	}
}

// metadataAccess checks the metadata restriction: single unicast addresses,
// and no restriction asked of a firewall that is turned off.
func (c *checker) metadataAccess(f Firewall, path string) {
	m := f.MetadataAccess
	rootOnly := m.RootOnly == nil || *m.RootOnly
	if rootOnly && !f.IsEnabled() {
		c.errorf(path, "keeps the metadata service root's with the firewall's nftables table, but firewall.enabled is false, so nothing would; remove enabled: false, or write metadataAccess: {rootOnly: false} to let every local user reach it")
		return
	}
	if !rootOnly {
		if len(m.Addresses) > 0 {
			c.warnf(path+".addresses", "are not used: rootOnly is false, so every local user may reach the metadata service; remove them, or set rootOnly: true")
		}
		return
	}
	seen := map[netip.Addr]int{}
	for i, s := range m.Addresses {
		p := fmt.Sprintf("%s.addresses[%d]", path, i)
		a, err := netip.ParseAddr(s)
		if err != nil {
			if _, perr := netip.ParsePrefix(s); perr == nil {
				c.errorf(p, "%q is a CIDR; list the metadata service's single addresses, e.g. 169.254.169.254", s)
			} else {
				c.errorf(p, "%q is not an IP address; write the metadata service's address, e.g. 169.254.169.254", s)
			}
			continue
		}
		switch {
		case a.Zone() != "":
			c.errorf(p, "%q has a zone; packets carry none, write %s", s, a.WithZone(""))
			continue
		case a.Is4In6():
			c.errorf(p, "%s is an IPv4-mapped IPv6 address; write it as %s", a, a.Unmap())
			continue
		case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast():
			kind := "the unspecified"
			if a.IsLoopback() {
				kind = "a loopback"
			} else if a.IsMulticast() {
				kind = "a multicast"
			}
			c.errorf(p, "%s is %s address, not the metadata service's: keeping it root's would cut every local user off it; give the service's unicast address, e.g. 169.254.169.254", a, kind)
			continue
		}
		if j, dup := seen[a]; dup {
			c.warnf(p, "%s is also addresses[%d]; list it once", a, j)
		}
		seen[a] = i
	}
}
