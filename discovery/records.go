package discovery

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/spec"
)

// The SRV services etcd looks up under --discovery-srv: peers (server-to-server)
// and clients, both over TLS.
const (
	ServerService = "etcd-server-ssl"
	ClientService = "etcd-client-ssl"
)

// Target is one member as DNS publishes it: an SRV target and its addresses.
type Target struct {
	// Host is the SRV target, a fully qualified name with a trailing dot.
	Host string
	// Addrs are Host's addresses, published as A and AAAA records.
	Addrs []netip.Addr
}

// TargetFor returns the Target of member m under domain: m.FQDN if set,
// else m.Name + "." + domain. IPs that do not parse are left out; spec
// validation is where they are reported.
func TargetFor(m spec.Member, domain string) Target {
	host := m.FQDN
	if host == "" {
		host = m.Name + "." + strings.TrimSuffix(domain, ".")
	}
	t := Target{Host: dns.CanonicalName(host)}
	for _, s := range m.IPs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		t.Addrs = append(t.Addrs, a.Unmap().WithZone(""))
	}
	return t
}

// SRVName returns the owner name of service's SRV records under domain,
// e.g. _etcd-server-ssl._tcp.etcd.example.internal. for ServerService.
func SRVName(service, domain string) string {
	return "_" + strings.TrimPrefix(service, "_") + "._tcp." + dns.CanonicalName(domain)
}

// Records returns the DNS records that let etcd members find each other under
// domain: per target an _etcd-server-ssl._tcp SRV record (peerPort), an
// _etcd-client-ssl._tcp SRV record (clientPort), both with priority 0 and
// weight 0, and A/AAAA records for its addresses. The order is deterministic:
// server SRVs, client SRVs, then addresses, each by host name.
func Records(domain string, targets []Target, peerPort, clientPort uint16, ttl uint32) []dns.RR {
	ts := mergeTargets(targets)
	var rrs []dns.RR
	for _, svc := range []struct {
		name string
		port uint16
	}{{ServerService, peerPort}, {ClientService, clientPort}} {
		owner := SRVName(svc.name, domain)
		for _, t := range ts {
			rrs = append(rrs, srvRecord(owner, t.Host, svc.port, ttl))
		}
	}
	for _, t := range ts {
		rrs = append(rrs, addressRecords(t.Host, t.Addrs, ttl)...)
	}
	return rrs
}

// targetSRVRecords are the SRV records Register adds and Deregister removes for
// one target.
func targetSRVRecords(domain, host string, peerPort, clientPort uint16, ttl uint32) []dns.RR {
	return []dns.RR{
		srvRecord(SRVName(ServerService, domain), host, peerPort, ttl),
		srvRecord(SRVName(ClientService, domain), host, clientPort, ttl),
	}
}

func srvRecord(owner, target string, port uint16, ttl uint32) *dns.SRV {
	return &dns.SRV{
		Hdr:    dns.RR_Header{Name: owner, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: ttl},
		Port:   port,
		Target: target,
	}
}

// addressRecords returns an A or AAAA record per address, IPv4 first, each
// family sorted, duplicates dropped.
func addressRecords(host string, addrs []netip.Addr, ttl uint32) []dns.RR {
	var rrs []dns.RR
	for _, a := range normalizeAddrs(addrs) {
		if a.Is4() {
			rrs = append(rrs, &dns.A{
				Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
				A:   net.IP(a.AsSlice()),
			})
			continue
		}
		rrs = append(rrs, &dns.AAAA{
			Hdr:  dns.RR_Header{Name: host, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl},
			AAAA: net.IP(a.AsSlice()),
		})
	}
	return rrs
}

// normalizeAddrs unmaps IPv4-mapped IPv6 addresses, drops zones, invalid and
// duplicate addresses, and sorts (IPv4 sorts before IPv6).
func normalizeAddrs(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if !a.IsValid() {
			continue
		}
		out = append(out, a.Unmap().WithZone(""))
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// mergeTargets canonicalizes host names, merges targets that name the same
// host, and sorts them by host.
func mergeTargets(targets []Target) []Target {
	byHost := make(map[string][]netip.Addr, len(targets))
	for _, t := range targets {
		h := dns.CanonicalName(t.Host)
		byHost[h] = append(byHost[h], t.Addrs...)
	}
	out := make([]Target, 0, len(byHost))
	for h, addrs := range byHost {
		out = append(out, Target{Host: h, Addrs: normalizeAddrs(addrs)})
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.Host, b.Host) })
	return out
}
