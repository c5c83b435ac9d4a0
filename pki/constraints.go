package pki

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"strings"
)

// oidNameConstraints is id-ce-nameConstraints (RFC 5280 §4.2.1.10).
var oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}

// ErrNameNotPermitted is returned when a certificate would name a host or IP
// outside its issuer's name constraints: every verifier would reject it.
var ErrNameNotPermitted = errors.New("name not permitted by the issuing CA's name constraints")

// GeneralName tags (RFC 5280 §4.2.1.6), context-specific and implicit.
const (
	tagDNSName   = 2
	tagIPAddress = 7
)

// generalSubtree is GeneralSubtree ::= SEQUENCE { base GeneralName, ... };
// minimum (DEFAULT 0) and maximum (absent) are never written, as RFC 5280
// requires.
type generalSubtree struct {
	Base asn1.RawValue
}

// nameConstraints is NameConstraints ::= SEQUENCE { permittedSubtrees [0]
// GeneralSubtrees OPTIONAL, excludedSubtrees [1] GeneralSubtrees OPTIONAL }.
type nameConstraints struct {
	Permitted []generalSubtree `asn1:"optional,tag:0"`
}

// marshalNameConstraints returns the DER value of a NameConstraints extension
// permitting exactly the given DNS domains and IP ranges.
func marshalNameConstraints(domains []string, ranges []*net.IPNet) ([]byte, error) {
	var nc nameConstraints
	for _, d := range domains {
		nc.Permitted = append(nc.Permitted, generalSubtree{Base: asn1.RawValue{
			Class: asn1.ClassContextSpecific, Tag: tagDNSName, Bytes: []byte(d),
		}})
	}
	for _, r := range ranges {
		ip, mask, err := canonicalRange(r)
		if err != nil {
			return nil, err
		}
		// iPAddress in a constraint is the address followed by the mask:
		// 8 octets for IPv4, 32 for IPv6.
		nc.Permitted = append(nc.Permitted, generalSubtree{Base: asn1.RawValue{
			Class: asn1.ClassContextSpecific, Tag: tagIPAddress, Bytes: append(append([]byte{}, ip...), mask...),
		}})
	}
	if len(nc.Permitted) == 0 {
		return nil, errors.New("name constraints: nothing permitted")
	}
	der, err := asn1.Marshal(nc)
	if err != nil {
		return nil, fmt.Errorf("name constraints: %w", err)
	}
	return der, nil
}

// canonicalRange returns r's network address and mask in 4-byte form for
// IPv4 and 16-byte form for IPv6, whatever form r came in.
func canonicalRange(r *net.IPNet) (net.IP, net.IPMask, error) {
	if r == nil {
		return nil, nil, errors.New("IP range is nil")
	}
	ones, bits := r.Mask.Size()
	if bits == 0 {
		return nil, nil, fmt.Errorf("IP range %v: mask is not a prefix length", r)
	}
	if ip4 := r.IP.To4(); ip4 != nil {
		if bits == 8*net.IPv6len {
			ones -= 8 * (net.IPv6len - net.IPv4len)
		}
		if ones < 0 {
			return nil, nil, fmt.Errorf("IP range %v: IPv4 address with an IPv6 mask shorter than /96", r)
		}
		mask := net.CIDRMask(ones, 8*net.IPv4len)
		return ip4.Mask(mask), mask, nil
	}
	if ip6 := r.IP.To16(); ip6 != nil && bits == 8*net.IPv6len {
		mask := net.CIDRMask(ones, bits)
		return ip6.Mask(mask), mask, nil
	}
	return nil, nil, fmt.Errorf("IP range %v is not a valid IPv4 or IPv6 CIDR", r)
}

// Permits returns nil when every DNS name and IP lies within the name
// constraints of this CA and of the intermediates above it, and an error
// wrapping ErrNameNotPermitted naming each one outside them otherwise. A CA
// without constraints permits everything. cfssl signs whatever it is asked
// to, so Issue checks first rather than mint a certificate no one accepts.
func (a *Authority) Permits(dnsNames []string, ips []net.IP) error {
	var bad []string
	for _, c := range a.constrained {
		for _, n := range dnsNames {
			if !domainPermitted(n, c.PermittedDNSDomains, c.ExcludedDNSDomains) {
				bad = append(bad, fmt.Sprintf("DNS name %q (permitted: %s)", n, strings.Join(c.PermittedDNSDomains, ", ")))
			}
		}
		for _, ip := range ips {
			if !ipPermitted(ip, c.PermittedIPRanges, c.ExcludedIPRanges) {
				bad = append(bad, fmt.Sprintf("IP %s (permitted: %s)", ip, joinRanges(c.PermittedIPRanges)))
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s; use names under the cluster domain and addresses in its subnets", ErrNameNotPermitted, strings.Join(bad, "; "))
	}
	return nil
}

// domainPermitted follows crypto/x509's reading of dNSName constraints: "a.b"
// permits a.b and its subdomains, ".a.b" only its subdomains.
func domainPermitted(name string, permitted, excluded []string) bool {
	for _, c := range excluded {
		if domainMatches(name, c) {
			return false
		}
	}
	if len(permitted) == 0 {
		return true
	}
	for _, c := range permitted {
		if domainMatches(name, c) {
			return true
		}
	}
	return false
}

func domainMatches(name, constraint string) bool {
	name, constraint = strings.ToLower(name), strings.ToLower(constraint)
	if constraint == "" {
		return true
	}
	if strings.HasPrefix(constraint, ".") {
		return strings.HasSuffix(name, constraint)
	}
	return name == constraint || strings.HasSuffix(name, "."+constraint)
}

func ipPermitted(ip net.IP, permitted, excluded []*net.IPNet) bool {
	for _, r := range excluded {
		if r.Contains(ip) {
			return false
		}
	}
	if len(permitted) == 0 {
		return true
	}
	for _, r := range permitted {
		if r.Contains(ip) {
			return true
		}
	}
	return false
}

func joinRanges(rs []*net.IPNet) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}
