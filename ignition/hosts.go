package ignition

import (
	"errors"
	"net/netip"
	"slices"
	"strings"

	"github.com/etcdboot/etcdboot/spec"
)

// HostsEntries returns the /etc/hosts fragment for members: the HostsMarker
// line, then one "IP name [fqdn]" line per member address, ordered by address
// and then name, without duplicates. Addresses or names that cannot form a
// valid line are left out (the Render functions reject them with an error);
// with nothing to write the fragment is empty.
func HostsEntries(members []spec.Member) string {
	type entry struct {
		addr netip.Addr
		line string
	}
	var entries []entry
	for _, m := range members {
		if !validHostsName(m.Name) || (m.FQDN != "" && !validHostsName(m.FQDN)) {
			continue
		}
		names := m.Name
		if m.FQDN != "" && m.FQDN != m.Name {
			names += " " + m.FQDN
		}
		for _, ip := range m.IPs {
			addr, err := parseHostsAddr(ip)
			if err != nil {
				continue
			}
			entries = append(entries, entry{addr, addr.String() + " " + names})
		}
	}
	if len(entries) == 0 {
		return ""
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if c := a.addr.Compare(b.addr); c != 0 {
			return c
		}
		return strings.Compare(a.line, b.line)
	})
	entries = slices.CompactFunc(entries, func(a, b entry) bool { return a.line == b.line })

	var sb strings.Builder
	sb.WriteString(HostsMarker + "\n")
	for _, e := range entries {
		sb.WriteString(e.line + "\n")
	}
	return sb.String()
}

// parseHostsAddr parses a member IP for /etc/hosts: an IPv4 or IPv6 address
// without a zone, which a hosts file cannot carry portably.
func parseHostsAddr(s string) (netip.Addr, error) {
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errors.New("not an IP address; write e.g. 192.168.2.51 or fd00::51")
	}
	if addr.Zone() != "" {
		return netip.Addr{}, errors.New("an IPv6 zone cannot go in /etc/hosts; drop the %zone")
	}
	return addr.Unmap(), nil
}
