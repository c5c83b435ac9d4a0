package spec

import (
	"fmt"
	"net/netip"
	"strings"
)

// Validate checks a node payload as the agent receives it.
func (p *NodePayload) Validate(doc *Document) []Problem {
	if doc == nil {
		doc = &Document{File: "<payload>"}
	}
	c := &checker{doc: doc}
	if p.APIVersion != APIVersion {
		c.errorf("apiVersion", "is %q; this agent reads %q: regenerate the payload with a matching etcdboot", p.APIVersion, APIVersion)
	}
	if p.Cluster == "" {
		c.errorf("cluster", "is missing; regenerate the payload with etcdboot generate")
	}
	// A payload cut short (a truncated user-data, a half-written file) lacks
	// whole sections: say so once per section instead of once per field.
	incomplete := false
	for _, section := range []string{"etcd", "discovery", "tls"} {
		if doc.positions != nil && !doc.Has(section) {
			c.errorf(section, "is missing: the payload is incomplete (truncated?); regenerate it or provide it again")
			incomplete = true
		}
	}
	if incomplete {
		return c.problems
	}
	if p.Token == "" {
		c.errorf("token", "is missing; regenerate the payload with etcdboot generate")
	}
	c.etcd(p.Etcd, "etcd")
	if p.Node == nil && p.Autoscaling == nil {
		c.errorf("node", "is missing and there is no autoscaling section; the agent cannot tell who it is")
	}
	if p.Node != nil {
		if p.Node.Name == "" {
			c.errorf("node.name", "is missing")
		}
		if len(p.Node.IPs) == 0 {
			c.errorf("node.ips", "is empty; the agent needs the address peers reach it on")
		}
		for i, s := range p.Node.IPs {
			if _, err := netip.ParseAddr(s); err != nil {
				c.errorf(fmt.Sprintf("node.ips[%d]", i), "%q is not an IP address", s)
			}
		}
	}
	switch p.Discovery.Mode {
	case DiscoveryStatic:
		if len(p.Members) == 0 && (p.Autoscaling == nil || len(p.Autoscaling.Seeds) == 0) {
			c.errorf("members", "is empty; static discovery needs the member list")
		}
	case DiscoveryDNS:
		if p.Discovery.DNS == nil || p.Discovery.DNS.Domain == "" {
			c.errorf("discovery.dns.domain", "is missing")
		}
	case DiscoveryEtcd:
		if p.Discovery.Etcd == nil || len(p.Discovery.Etcd.Endpoints) == 0 || p.Discovery.Etcd.Token == "" {
			c.errorf("discovery.etcd", "needs endpoints and token; regenerate the payload")
		}
	default:
		c.errorf("discovery.mode", "%q is not a discovery mode; use static, dns or etcd", p.Discovery.Mode)
	}
	for _, f := range []struct{ path, val string }{
		{"tls.caFile", p.TLS.CAFile},
		{"tls.serverCertFile", p.TLS.ServerCertFile}, {"tls.serverKeyFile", p.TLS.ServerKeyFile},
		{"tls.peerCertFile", p.TLS.PeerCertFile}, {"tls.peerKeyFile", p.TLS.PeerKeyFile},
	} {
		if !strings.HasPrefix(f.val, "/") {
			c.errorf(f.path, "%q is not an absolute path", f.val)
		}
	}
	c.tlsPolicy(p.TLS.MinVersion, "tls.minVersion")
	c.firewall(p.Firewall, "firewall")
	if p.Backup != nil {
		b := *p.Backup
		b.ApplyDefaults()
		c.backup(b, p.Members, p.Autoscaling != nil, p.Etcd.DataDir)
	}
	if p.Recovery != nil {
		c.recovery(*p.Recovery, p.Backup)
	}
	if p.Maintenance != nil {
		m := *p.Maintenance
		m.ApplyDefaults()
		c.maintenance(m, p.Etcd)
	}
	if p.Restore != nil {
		if !strings.HasPrefix(p.Restore.Snapshot, "/") {
			c.errorf("restore.snapshot", "%q is not an absolute path", p.Restore.Snapshot)
		}
		if len(p.Restore.SHA256) != 64 {
			c.errorf("restore.sha256", "is not a hex sha256; every member must name the same snapshot digest")
		}
	}
	return c.problems
}
