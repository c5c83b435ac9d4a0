package etcdconfig

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"

	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/spec"
)

// DefaultDir is where etcd's configuration is written on a node:
// etcd.conf, and etcd.yaml in the yaml config format.
const DefaultDir = "/etc/etcd"

// Cluster is the cluster a member starts with, as its plan decided.
type Cluster struct {
	// State is etcd's --initial-cluster-state: "new" or "existing".
	State string
	// Join is set when the member joins a running cluster; JoinMembers is
	// then --initial-cluster, the members the join found.
	Join        bool
	JoinMembers string
	// Peers are the members a forming cluster starts with.
	Peers []spec.Member
	// Running is set when a healthy cluster answered: a member that does
	// not join it still never uses a v3 discovery token then.
	Running bool
}

// Input is everything a member's etcd configuration depends on.
type Input struct {
	// Payload is the node payload; its Node must be set.
	Payload *spec.NodePayload
	// Minor is the etcd 3.x minor version of Payload.Etcd.Version.
	Minor int
	// Addrs are the member's addresses (NodeAddrs of Payload.Node).
	Addrs []netip.Addr
	// Root prefixes every path the payload names: "" or "/" on a node.
	Root string
	// Cluster is the cluster it starts with.
	Cluster Cluster
}

// Member is the etcd configuration of in's member. It is pure: the agent
// writes it and the audit audits it.
func Member(in Input) Config {
	p, e := in.Payload, in.Payload.Etcd
	path := func(s string) string { return Path(in.Root, s) }
	var clientURLs, metricsURLs []string
	for _, ip := range in.Addrs {
		clientURLs = append(clientURLs, HostURL(ip, e.ClientPort))
		metricsURLs = append(metricsURLs, HostURL(ip, e.MetricsPort))
	}
	loopback := netip.MustParseAddr("127.0.0.1")
	peerURLs := PeerURLs(*p.Node, e.PeerPort)
	c := Config{
		Minor:                    in.Minor,
		Name:                     p.Node.Name,
		DataDir:                  path(e.DataDir),
		ListenPeerURLs:           peerURLs,
		ListenClientURLs:         append(clientURLs, HostURL(loopback, e.ClientPort)),
		ListenMetricsURLs:        append(metricsURLs, HostURL(loopback, e.MetricsPort)),
		AdvertiseClientURLs:      clientURLs,
		InitialAdvertisePeerURLs: peerURLs,
		InitialClusterState:      in.Cluster.State,
		InitialClusterToken:      p.Token,
		HeartbeatMs:              e.HeartbeatInterval.Std().Milliseconds(),
		ElectionMs:               e.ElectionTimeout.Std().Milliseconds(),
		SnapshotCount:            e.SnapshotCount,
		QuotaBackendBytes:        int64(e.QuotaBackendBytes),
		AutoCompactionMode:       e.AutoCompactionMode,
		AutoCompactionRetention:  e.AutoCompactionRetention,
		CAFile:                   path(p.TLS.CAFile),
		CertFile:                 path(p.TLS.ServerCertFile),
		KeyFile:                  path(p.TLS.ServerKeyFile),
		PeerCertFile:             path(p.TLS.PeerCertFile),
		PeerKeyFile:              path(p.TLS.PeerKeyFile),
		TLSMinVersion:            spec.EffectiveTLSMinVersion(p.TLS.MinVersion),
		CipherSuites:             spec.TLSCipherSuites(p.TLS.MinVersion),
	}
	switch {
	case in.Cluster.Join:
		c.InitialCluster = in.Cluster.JoinMembers
	case p.Discovery.Mode == spec.DiscoveryEtcd && p.Discovery.Etcd != nil && !in.Cluster.Running:
		c.DiscoveryToken, c.DiscoveryEndpoints = p.Discovery.Etcd.Token, p.Discovery.Etcd.Endpoints
	default:
		c.InitialCluster = InitialCluster(in.Cluster.Peers, e.PeerPort)
	}
	return c
}

// Path maps a path named in the payload to the node's filesystem under root
// ("" or "/" on a real node).
func Path(root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	return filepath.Join(root, p)
}

// NodeAddrs are the parsed addresses of a member.
func NodeAddrs(m spec.Member) []netip.Addr {
	var out []netip.Addr
	for _, s := range m.IPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// HostURL formats https://ip:port, with IPv6 brackets.
func HostURL(ip netip.Addr, port int) string {
	return fmt.Sprintf("https://%s", netip.AddrPortFrom(ip, uint16(port)))
}

// PeerURLs are a member's peer URLs (one per IP).
func PeerURLs(m spec.Member, peerPort int) []string {
	var urls []string
	for _, ip := range NodeAddrs(m) {
		urls = append(urls, HostURL(ip, peerPort))
	}
	return urls
}

// InitialCluster formats etcd's --initial-cluster from members.
func InitialCluster(members []spec.Member, peerPort int) string {
	var parts []string
	for _, m := range members {
		for _, u := range PeerURLs(m, peerPort) {
			parts = append(parts, m.Name+"="+u)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// LocalMember is how the agent's side jobs (backup and maintenance rounds)
// reach the node's own member as a client.
type LocalMember struct {
	// Payload is the node's payload.
	Payload *spec.NodePayload
	// TLS is the member's server certificate and key and the CA, under the
	// root the job was given.
	TLS tlsfiles.Files
	// Endpoint is the endpoint the job was given or, when that is empty, the
	// member's client URL on its first address (127.0.0.1 when the payload
	// names none).
	Endpoint string
}

// LoadLocalMember reads the payload at payloadPath and says how to reach
// its member from the node, with paths under root.
func LoadLocalMember(payloadPath, root, endpoint string) (LocalMember, error) {
	p, err := spec.LoadNodePayload(payloadPath)
	if err != nil {
		return LocalMember{}, err
	}
	files := tlsfiles.Files{CAFile: Path(root, p.TLS.CAFile), CertFile: Path(root, p.TLS.ServerCertFile), KeyFile: Path(root, p.TLS.ServerKeyFile)}
	if endpoint != "" {
		return LocalMember{Payload: p, TLS: files, Endpoint: endpoint}, nil
	}
	ip := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	if p.Node != nil && len(p.Node.IPs) > 0 {
		if a, err := netip.ParseAddr(p.Node.IPs[0]); err == nil {
			ip = a
		}
	}
	return LocalMember{Payload: p, TLS: files, Endpoint: HostURL(ip, p.Etcd.ClientPort)}, nil
}

// MissingSection is the error of a side job whose payload lacks its
// section of the cluster spec.
func MissingSection(payloadPath, section string) error {
	return fmt.Errorf("%s has no %s section; add %s: to the cluster spec and regenerate the payloads", payloadPath, section, section)
}
