package bootstrap

import (
	"fmt"
	"net/netip"

	"github.com/etcdboot/etcdboot/bootstrap/firewall"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/spec"
)

// FirewallPolicy is the nftables policy for this payload and member set.
func FirewallPolicy(p *spec.NodePayload, members []spec.Member) (firewall.Policy, error) {
	pol := firewall.DefaultPolicy()
	pol.ClientPort, pol.PeerPort, pol.MetricsPort = uint16(p.Etcd.ClientPort), uint16(p.Etcd.PeerPort), uint16(p.Etcd.MetricsPort)
	// The agent's own metrics (startMetrics) are scraped like etcd's.
	pol.AgentMetricsPort = monitoring.DefaultAgentMetricsPort
	for _, m := range members {
		for _, s := range m.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return pol, fmt.Errorf("member %s: %q is not an IP address", m.Name, s)
			}
			pol.Peers = append(pol.Peers, ip)
		}
	}
	for _, list := range []struct {
		dst *[]netip.Prefix
		src []string
	}{{&pol.ClientCIDRs, p.Firewall.ClientCIDRs}, {&pol.MonitoringCIDRs, p.Firewall.MonitoringCIDRs}} {
		for _, s := range list.src {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return pol, fmt.Errorf("firewall: %q is not a CIDR", s)
			}
			*list.dst = append(*list.dst, pfx.Masked())
		}
	}
	// Only root may reach the instance metadata service (the user data holds
	// this node's keys): none when firewall.metadataAccess.rootOnly is false.
	metadata, err := p.Firewall.RootOnlyMetadataAddrs()
	if err != nil {
		return pol, err
	}
	pol.MetadataAddrs = metadata
	return pol, pol.Validate()
}

// applyFirewall is the firewall step: it installs the nftables policy before etcd listens: a stateful
// drop added later would stall established peer connections.
func (a *Agent) applyFirewall(n node) error {
	if !n.payload.Firewall.IsEnabled() {
		a.log.Info("firewall disabled by the payload")
		return nil
	}
	pol, err := FirewallPolicy(n.payload, n.payload.Members)
	if err != nil {
		return err
	}
	if err := firewall.Apply(pol); err != nil {
		return fmt.Errorf("apply nftables policy: %w", err)
	}
	return nil
}

// FirewallText renders the payload's nftables policy as nft text, or with live
// the policy read back from the kernel.
func FirewallText(payloadPath string, live bool) (string, error) {
	if live {
		pol, err := firewall.Current(firewall.DefaultTable)
		if err != nil {
			return "", fmt.Errorf("read the kernel's table inet %s: %w", firewall.DefaultTable, err)
		}
		return pol.NFT(), nil
	}
	p, err := spec.LoadNodePayload(payloadPath)
	if err != nil {
		return "", err
	}
	pol, err := FirewallPolicy(p, p.Members)
	if err != nil {
		return "", err
	}
	return pol.NFT(), nil
}
