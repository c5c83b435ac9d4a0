package etcdconfig

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/etcdboot/etcdboot/spec"
)

// ErrNoAddressInSubnets means the host has no address in the group's subnets.
var ErrNoAddressInSubnets = errors.New("no host address lies in autoscaling.subnets")

// NameFor is the member name an instance with ip gets: prefix + the address
// with '.' and ':' turned into '-' (etcd-10-0-1-7). It is stable across
// reboots and never random.
func NameFor(prefix string, ip netip.Addr) string {
	return prefix + strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
}

// GroupIdentity picks an autoscaling instance's address (the first host
// address inside the subnets) and derives its member name and FQDN: the
// member whose configuration an instance of the group runs.
func GroupIdentity(as *spec.Autoscaling, hostAddrs []netip.Addr) (spec.Member, error) {
	var subnets []netip.Prefix
	for _, s := range as.Subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return spec.Member{}, fmt.Errorf("autoscaling.subnets: %q is not a CIDR", s)
		}
		subnets = append(subnets, p)
	}
	for _, ip := range hostAddrs {
		if slices.ContainsFunc(subnets, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			name := NameFor(as.NamePrefix, ip)
			return spec.Member{Name: name, IPs: []string{ip.String()}, FQDN: name + "." + as.Domain}, nil
		}
	}
	return spec.Member{}, fmt.Errorf("%w: host has %v, subnets are %v; launch the instance in the group's subnets", ErrNoAddressInSubnets, hostAddrs, as.Subnets)
}
