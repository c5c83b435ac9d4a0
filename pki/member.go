package pki

import (
	"net"
	"slices"
	"time"
)

// Common names of the client certificates the generator issues.
const (
	// AdminClient is etcdctl's certificate for operators.
	AdminClient = "admin"
	// HealthcheckClient is used by health probes (etcdctl endpoint health).
	HealthcheckClient = "healthcheck-client"
	// APIServerClient is kube-apiserver's certificate for an external etcd.
	APIServerClient = "kube-apiserver-etcd-client"
	// APIServerOrganization is the O kubeadm gives kube-apiserver's etcd
	// client certificate.
	APIServerOrganization = "system:masters"
)

// MemberRequests returns the server and peer certificate requests of one
// member. Both carry the same SANs: the member name, its FQDN (if any),
// extraDNS (the SRV domain and target names in DNS discovery mode),
// "localhost", every IP, 127.0.0.1 and ::1, each once. Under a name-constrained
// intermediate every name must lie in its domains: pass the FQDN as name.
func MemberRequests(name string, fqdn string, ips []net.IP, extraDNS []string, key KeySpec, expiry time.Duration) (server, peer Request) {
	var dns []string
	addName := func(n string) {
		if n != "" && !slices.Contains(dns, n) {
			dns = append(dns, n)
		}
	}
	addName(name)
	addName(fqdn)
	for _, n := range extraDNS {
		addName(n)
	}
	addName("localhost")

	var addrs []net.IP
	for _, ip := range append(slices.Clone(ips), net.IPv4(127, 0, 0, 1), net.IPv6loopback) {
		if ip != nil && !slices.ContainsFunc(addrs, ip.Equal) {
			addrs = append(addrs, ip)
		}
	}
	server = Request{CommonName: name, Kind: Server, DNSNames: dns, IPs: addrs, Key: key, Expiry: expiry}
	peer = server
	peer.Kind = Peer
	peer.DNSNames = slices.Clone(dns)
	peer.IPs = slices.Clone(addrs)
	return server, peer
}

// ClientRequest returns a client-auth-only certificate request; etcd takes
// cn as the user name when client-cert-auth is on.
func ClientRequest(cn string, org []string, key KeySpec, expiry time.Duration) Request {
	return Request{CommonName: cn, Kind: Client, Organization: slices.Clone(org), Key: key, Expiry: expiry}
}

// ClientRequests returns the client certificates every cluster gets: admin
// (etcdctl), healthcheck-client and kube-apiserver-etcd-client (O
// system:masters, like kubeadm's apiserver-etcd-client).
func ClientRequests(key KeySpec, expiry time.Duration) []Request {
	return []Request{
		ClientRequest(AdminClient, nil, key, expiry),
		ClientRequest(HealthcheckClient, nil, key, expiry),
		ClientRequest(APIServerClient, []string{APIServerOrganization}, key, expiry),
	}
}
