package discovery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/spec"
)

// ErrUpdateRejected is a dynamic update the DNS server answered with an
// error code (REFUSED, NOTAUTH, ...).
var ErrUpdateRejected = errors.New("DNS update rejected")

// updateTimeout bounds one update exchange when ctx has no earlier deadline.
const updateTimeout = 10 * time.Second

// Register adds target t to domain's SRV record set with one signed RFC 2136
// update to server: the _etcd-server-ssl._tcp (peerPort) and
// _etcd-client-ssl._tcp (clientPort) SRV records, and t's A/AAAA records,
// which replace any t.Host had (a member whose address changed re-registers).
// t.Host must lie inside domain, the zone updated. server "" asks the first
// nameserver of /etc/resolv.conf. The update goes over TCP.
func Register(ctx context.Context, server string, key spec.TSIGKey, domain string, t Target, peerPort, clientPort uint16, ttl uint32) error {
	zone, host, err := updateNames(domain, t)
	if err != nil {
		return fmt.Errorf("register %s: %w", t.Host, err)
	}
	addrs := addressRecords(host, t.Addrs, ttl)
	if len(addrs) == 0 {
		return fmt.Errorf("register %s: target has no address: give the member's IPs", host)
	}
	m := new(dns.Msg).SetUpdate(zone)
	m.RemoveRRset([]dns.RR{
		&dns.A{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeA}},
		&dns.AAAA{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeAAAA}},
	})
	m.Insert(addrs)
	m.Insert(targetSRVRecords(zone, host, peerPort, clientPort, ttl))
	if err := sendUpdate(ctx, server, key, m); err != nil {
		return fmt.Errorf("register %s in %s: %w", host, zone, err)
	}
	return nil
}

// Deregister removes target t from domain with one signed RFC 2136 update to
// server: exactly its two SRV records (same target and ports) and its
// addresses t.Addrs, or all of t.Host's A/AAAA records when t.Addrs is empty.
// Records of other targets are untouched; removing what is absent succeeds.
func Deregister(ctx context.Context, server string, key spec.TSIGKey, domain string, t Target, peerPort, clientPort uint16) error {
	zone, host, err := updateNames(domain, t)
	if err != nil {
		return fmt.Errorf("deregister %s: %w", t.Host, err)
	}
	m := new(dns.Msg).SetUpdate(zone)
	m.Remove(targetSRVRecords(zone, host, peerPort, clientPort, 0))
	if addrs := addressRecords(host, t.Addrs, 0); len(addrs) > 0 {
		m.Remove(addrs)
	} else {
		m.RemoveRRset([]dns.RR{
			&dns.A{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeA}},
			&dns.AAAA{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeAAAA}},
		})
	}
	if err := sendUpdate(ctx, server, key, m); err != nil {
		return fmt.Errorf("deregister %s from %s: %w", host, zone, err)
	}
	return nil
}

// updateNames checks and canonicalizes the zone and target names.
func updateNames(domain string, t Target) (zone, host string, err error) {
	if _, ok := dns.IsDomainName(domain); !ok || domain == "" {
		return "", "", fmt.Errorf("domain %q is not a domain name", domain)
	}
	if _, ok := dns.IsDomainName(t.Host); !ok || t.Host == "" {
		return "", "", fmt.Errorf("target host %q is not a domain name", t.Host)
	}
	zone, host = dns.CanonicalName(domain), dns.CanonicalName(t.Host)
	if !dns.IsSubDomain(zone, host) {
		return "", "", fmt.Errorf("target host %s is outside zone %s: its address records cannot be updated there; name the member inside the domain (leave fqdn empty)", host, zone)
	}
	return zone, host, nil
}

// sendUpdate signs m with key and sends it to server over TCP; it fails
// unless the server answers NOERROR with a valid signature.
func sendUpdate(ctx context.Context, server string, key spec.TSIGKey, m *dns.Msg) error {
	k, err := parseTSIGKey(key)
	if err != nil {
		return err
	}
	addr, err := serverAddress(server)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, updateTimeout)
	defer cancel()
	m.SetTsig(k.name, k.algorithm, tsigFudge, time.Now().Unix())
	c := &dns.Client{Net: "tcp", TsigProvider: keyring{k.name: k}}
	resp, _, err := c.ExchangeContext(ctx, m, addr)
	if resp != nil && resp.Rcode != dns.RcodeSuccess {
		// A refusal may come unsigned or with an empty MAC (BADKEY, BADSIG),
		// so the failed verification is not the news: the refusal is.
		return rejection(addr, k.name, resp)
	}
	if err != nil {
		if resp != nil {
			return fmt.Errorf("verify the answer of %s with key %s: %w", addr, k.name, err)
		}
		return fmt.Errorf("%w: send update to %s: %w", ErrServerUnreachable, addr, err)
	}
	if resp.IsTsig() == nil {
		return fmt.Errorf("%s answered the signed update without a signature (RFC 8945 requires one): is it the zone's primary server?", addr)
	}
	return nil
}

// rejection explains an update's error response and what to do about it.
func rejection(addr, key string, resp *dns.Msg) error {
	rcode := dns.RcodeToString[resp.Rcode]
	if t := resp.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
		rcode += "/" + dns.RcodeToString[int(t.Error)]
	}
	var hint string
	switch resp.Rcode {
	case dns.RcodeRefused:
		hint = fmt.Sprintf("the server does not accept updates signed with key %s for this zone", key)
	case dns.RcodeNotAuth:
		hint = fmt.Sprintf("the server does not know key %s, its secret or algorithm differ, the clocks are more than %d s apart, or it is not authoritative for the zone", key, tsigFudge)
	case dns.RcodeNotZone:
		hint = "a record is outside the zone"
	case dns.RcodeServerFailure:
		hint = "the server could not apply or save the update: see its log"
	case dns.RcodeFormatError:
		hint = "the server found the update malformed: see its log"
	default:
		hint = "see the server's log"
	}
	return fmt.Errorf("%w: %s answered %s: %s", ErrUpdateRejected, addr, rcode, hint)
}
