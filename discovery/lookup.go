package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Errors LookupSRV wraps, for callers that wait and retry (a member booting
// before its peers have registered) rather than give up.
var (
	// ErrNoSRV: the SRV name does not exist or holds no SRV records.
	ErrNoSRV = errors.New("no SRV records")
	// ErrNoAddress: an SRV target has neither A nor AAAA records.
	ErrNoAddress = errors.New("no A or AAAA record")
	// ErrServerUnreachable: the DNS server did not answer.
	ErrServerUnreachable = errors.New("DNS server unreachable")
)

// Peer is one SRV target: a member's host, port and addresses.
type Peer struct {
	// Host is the SRV target, fully qualified with a trailing dot.
	Host string
	// Port is the SRV port: the member's peer or client port.
	Port uint16
	// Addrs are Host's addresses, sorted, IPv4 first.
	Addrs []netip.Addr
}

// resolvConfPath is where LookupSRV finds a server when given none.
var resolvConfPath = "/etc/resolv.conf"

// lookupUDPSize is the EDNS0 payload size asked for (DNS Flag Day 2020).
const lookupUDPSize = 1232

// lookupTimeout bounds one exchange when ctx has no earlier deadline.
const lookupTimeout = 3 * time.Second

// LookupSRV returns the peers named by the SRV records of service (e.g.
// "etcd-server-ssl") under domain, asking server ("host:port"; "" is the first
// nameserver of /etc/resolv.conf; a missing port is 53). Targets' addresses
// come from the answer's additional section or, failing that, from A and
// AAAA queries. A truncated UDP answer is asked again over TCP. Peers are
// ordered by priority, then weight (heaviest first), host and port.
func LookupSRV(ctx context.Context, server string, service string, domain string) ([]Peer, error) {
	if _, ok := dns.IsDomainName(domain); !ok || domain == "" {
		return nil, fmt.Errorf("lookup SRV: domain %q is not a domain name", domain)
	}
	addr, err := serverAddress(server)
	if err != nil {
		return nil, fmt.Errorf("lookup SRV: %w", err)
	}
	qname := SRVName(service, domain)
	resp, err := exchange(ctx, addr, qname, dns.TypeSRV)
	if err != nil {
		return nil, fmt.Errorf("lookup SRV %s: %w", qname, err)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, fmt.Errorf("%w for %s (%s answered NXDOMAIN): is the zone loaded / the domain right?", ErrNoSRV, qname, addr)
	case dns.RcodeRefused:
		return nil, fmt.Errorf("lookup SRV %s: %s refused the query: it neither serves %s nor recurses; point discovery.dns.server at the server that does", qname, addr, dns.CanonicalName(domain))
	default:
		return nil, fmt.Errorf("lookup SRV %s: %s answered %s", qname, addr, dns.RcodeToString[resp.Rcode])
	}

	var srvs []*dns.SRV
	for _, rr := range resp.Answer {
		if srv, ok := rr.(*dns.SRV); ok && srv.Target != "." {
			// "." means the service is decidedly not available (RFC 2782).
			srvs = append(srvs, srv)
		}
	}
	if len(srvs) == 0 {
		return nil, fmt.Errorf("%w for %s (%s answered NOERROR without any): is the zone loaded / the domain right?", ErrNoSRV, qname, addr)
	}
	slices.SortStableFunc(srvs, func(a, b *dns.SRV) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(b.Weight, a.Weight),
			strings.Compare(dns.CanonicalName(a.Target), dns.CanonicalName(b.Target)), cmp.Compare(a.Port, b.Port))
	})

	known := addressesIn(resp.Extra)
	resolved := make(map[string][]netip.Addr)
	peers := make([]Peer, 0, len(srvs))
	for _, srv := range srvs {
		host := dns.CanonicalName(srv.Target)
		addrs, ok := resolved[host]
		if !ok {
			addrs = known[host]
			if len(addrs) == 0 {
				addrs, err = lookupAddrs(ctx, addr, host)
				if err != nil {
					return nil, fmt.Errorf("lookup SRV %s: %w", qname, err)
				}
			}
			addrs = normalizeAddrs(addrs)
			resolved[host] = addrs
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("SRV target %s has %w (asked %s): add its address records or fix the SRV record of %s", host, ErrNoAddress, addr, qname)
		}
		peers = append(peers, Peer{Host: host, Port: srv.Port, Addrs: slices.Clone(addrs)})
	}
	return peers, nil
}

// addressesIn collects the A and AAAA records of rrs by canonical owner.
func addressesIn(rrs []dns.RR) map[string][]netip.Addr {
	out := make(map[string][]netip.Addr)
	for _, rr := range rrs {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		default:
			continue
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			name := dns.CanonicalName(rr.Header().Name)
			out[name] = append(out[name], a)
		}
	}
	return out
}

// lookupAddrs asks addr for host's A and AAAA records. A name without
// addresses is not an error here; a server that fails to answer is.
func lookupAddrs(ctx context.Context, addr, host string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		resp, err := exchange(ctx, addr, host, t)
		if err != nil {
			return nil, fmt.Errorf("resolve SRV target %s: %w", host, err)
		}
		switch resp.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
		default:
			return nil, fmt.Errorf("resolve SRV target %s: %s answered %s to the %s query", host, addr, dns.RcodeToString[resp.Rcode], dns.Type(t))
		}
		for _, a := range addressesIn(resp.Answer) {
			addrs = append(addrs, a...)
		}
	}
	return addrs, nil
}

// exchange asks addr one question over UDP (with EDNS0, recursion desired,
// one retry on timeout) and again over TCP if the answer was truncated.
func exchange(ctx context.Context, addr, name string, qtype uint16) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*lookupTimeout)
	defer cancel()
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(lookupUDPSize, false)
	udp := &dns.Client{Net: "udp", UDPSize: lookupUDPSize, Timeout: lookupTimeout / 2}
	var resp *dns.Msg
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		resp, _, err = udp.ExchangeContext(ctx, m, addr)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() || ctx.Err() != nil {
			break
		}
	}
	if err == nil && resp.Truncated {
		tcp := &dns.Client{Net: "tcp", Timeout: lookupTimeout}
		resp, _, err = tcp.ExchangeContext(ctx, m, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrServerUnreachable, addr, err)
	}
	return resp, nil
}

// serverAddress returns server as host:port; "" is the first nameserver of
// /etc/resolv.conf, and a missing port is 53.
func serverAddress(server string) (string, error) {
	if server == "" {
		cfg, err := dns.ClientConfigFromFile(resolvConfPath)
		if err != nil {
			return "", fmt.Errorf("no DNS server given and %s unreadable: %w", resolvConfPath, err)
		}
		if len(cfg.Servers) == 0 {
			return "", fmt.Errorf("no DNS server given and %s lists no nameserver: set discovery.dns.server", resolvConfPath)
		}
		return net.JoinHostPort(cfg.Servers[0], cfg.Port), nil
	}
	if _, _, err := net.SplitHostPort(server); err == nil {
		return server, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(server, "["), "]")
	if strings.ContainsAny(host, "[]") || host == "" {
		return "", fmt.Errorf("DNS server %q is not host:port (e.g. 10.123.0.2:53)", server)
	}
	return net.JoinHostPort(host, "53"), nil
}
