// Package firewall owns the node's nftables policy for etcd: an "inet" table
// whose input chain lets only members reach the peer port, members and client
// CIDRs reach the client port, and monitoring CIDRs reach etcd's metrics port
// and the agent's; and whose output chain lets only root reach the cloud's
// instance metadata service.
// The ruleset is computed as data from a Policy (and rendered as nft text for
// humans and tests); Apply, ReplacePeers, Current and Remove are the only places
// that touch the kernel, through netlink with github.com/google/nftables.
package firewall
