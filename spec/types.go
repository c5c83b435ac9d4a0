package spec

import (
	"fmt"
	"net/netip"
)

// APIVersion is written into every file etcdboot produces and accepted on load.
const APIVersion = "etcdboot/v1"

// Discovery modes: the three ways the manual procedure forms a cluster.
const (
	DiscoveryStatic = "static"
	DiscoveryDNS    = "dns"
	DiscoveryEtcd   = "etcd"
)

// Payload formats the generator renders for each node.
const (
	FormatIgnition  = "ignition"
	FormatCloudInit = "cloud-init"
)

// Key algorithms the PKI issues.
const (
	KeyECDSA = "ecdsa"
	KeyRSA   = "rsa"
)

// Certificate file layouts.
const (
	LayoutEtcdboot = "etcdboot"
	LayoutKubeadm  = "kubeadm"
)

// etcd configuration file formats written by the agent.
const (
	ConfigYAML = "yaml"
	ConfigEnv  = "env"
)

// Cluster is what an operator writes: one etcd cluster, its members (or the
// autoscaling group that will provide them) and how they find each other.
type Cluster struct {
	APIVersion string `yaml:"apiVersion"`
	// Name names the cluster; it prefixes the cluster token and DNS names.
	Name string `yaml:"name"`
	// Token is etcd's --initial-cluster-token; defaults to Name.
	Token       string       `yaml:"token,omitempty"`
	Etcd        Etcd         `yaml:"etcd,omitempty"`
	Discovery   Discovery    `yaml:"discovery,omitempty"`
	Members     []Member     `yaml:"members,omitempty"`
	Autoscaling *Autoscaling `yaml:"autoscaling,omitempty"`
	PKI         PKI          `yaml:"pki,omitempty"`
	Firewall    Firewall     `yaml:"firewall,omitempty"`
	// TLS is the TLS policy of every port etcdboot owns (see TLS).
	TLS     TLS     `yaml:"tls,omitempty"`
	Payload Payload `yaml:"payload,omitempty"`
	// Backup turns on scheduled snapshots on the members; nil for none.
	Backup *Backup `yaml:"backup,omitempty"`
	// Recovery says whether a cluster that lost every member forms again
	// from its newest backup; nil is never.
	Recovery *Recovery `yaml:"recovery,omitempty"`
	// Maintenance schedules defragmentation and heals NOSPACE; nil for none.
	Maintenance *Maintenance `yaml:"maintenance,omitempty"`
}

// Etcd holds the etcd version, ports, paths and tuning shared by all members.
// Zero tuning values mean "etcd's own default": the setting is not written.
type Etcd struct {
	// Version is the etcd release the image carries, e.g. "3.6.16".
	Version string `yaml:"version,omitempty"`
	// DataDir is etcd's --data-dir on the node.
	DataDir string `yaml:"dataDir,omitempty"`
	// ConfigFormat chooses the file the agent writes: "yaml" (etcd --config-file)
	// or "env" (the classic /etc/etcd/etcd.conf environment file).
	ConfigFormat string `yaml:"configFormat,omitempty"`
	ClientPort   int    `yaml:"clientPort,omitempty"`
	PeerPort     int    `yaml:"peerPort,omitempty"`
	MetricsPort  int    `yaml:"metricsPort,omitempty"`

	HeartbeatInterval Duration `yaml:"heartbeatInterval,omitempty"`
	ElectionTimeout   Duration `yaml:"electionTimeout,omitempty"`
	SnapshotCount     uint64   `yaml:"snapshotCount,omitempty"`
	// QuotaBackendBytes is the backend size quota, e.g. "8GiB" or 8589934592.
	QuotaBackendBytes ByteSize `yaml:"quotaBackendBytes,omitempty"`
	// AutoCompactionMode is "periodic" or "revision".
	AutoCompactionMode string `yaml:"autoCompactionMode,omitempty"`
	// AutoCompactionRetention is "1h" (periodic) or "1000" (revision).
	AutoCompactionRetention string `yaml:"autoCompactionRetention,omitempty"`
}

// Discovery says how members find each other.
type Discovery struct {
	// Mode is static, dns or etcd.
	Mode string         `yaml:"mode,omitempty"`
	DNS  *DNSDiscovery  `yaml:"dns,omitempty"`
	Etcd *EtcdDiscovery `yaml:"etcd,omitempty"`
}

// DNSDiscovery is discovery through _etcd-server-ssl._tcp SRV records.
type DNSDiscovery struct {
	// Domain is the SRV domain, e.g. "etcd.example.internal".
	Domain string `yaml:"domain"`
	// Server is a DNS server "host:port" to ask instead of /etc/resolv.conf.
	Server string `yaml:"server,omitempty"`
	// Nameserver is the IP of the zone's authoritative server (its NS
	// record's address); defaults to Server's address.
	Nameserver string `yaml:"nameserver,omitempty"`
	// Register makes each agent add its own A/AAAA and SRV records by RFC
	// 2136 dynamic update, signed with a TSIG key the generator creates.
	Register bool `yaml:"register,omitempty"`
	// UpdateKey is that key: in a cluster spec only to bring your own (for
	// an existing BIND), in a node payload always when Register is set.
	UpdateKey *TSIGKey `yaml:"updateKey,omitempty"`
}

// TSIGKey is a shared secret for signed DNS updates.
type TSIGKey struct {
	Name      string `yaml:"name"`
	Algorithm string `yaml:"algorithm,omitempty"`
	Secret    string `yaml:"secret"`
}

// EtcdDiscovery is etcd v3 discovery (etcd 3.6+) through an existing cluster.
type EtcdDiscovery struct {
	Endpoints []string `yaml:"endpoints"`
	// Token is the discovery token; the generator creates one when empty.
	Token string `yaml:"token,omitempty"`
	// Size is the expected cluster size; defaults to the member count.
	Size int `yaml:"size,omitempty"`
}

// Member is one etcd member known when the cluster is generated.
type Member struct {
	Name string   `yaml:"name"`
	IPs  []string `yaml:"ips"`
	FQDN string   `yaml:"fqdn,omitempty"`
	// MAC selects the machine's payload when it PXE-boots.
	MAC string `yaml:"mac,omitempty"`
}

// Autoscaling describes a group of identical VMs whose members are not known
// when the payload is generated.
type Autoscaling struct {
	// Size is the number of voting members the group keeps.
	Size int `yaml:"size"`
	// Subnets are the CIDRs members get their addresses from.
	Subnets []string `yaml:"subnets"`
	// Domain is the DNS domain member names live under.
	Domain string `yaml:"domain"`
	// NamePrefix prefixes the name derived from a member's IP.
	NamePrefix string `yaml:"namePrefix,omitempty"`
	// Seeds are candidate member IPs tried in order (static seed discovery).
	Seeds []string `yaml:"seeds,omitempty"`
}

// PKI controls the certificates the generator issues.
type PKI struct {
	// KeyAlgorithm is "ecdsa" (P-256, default) or "rsa".
	KeyAlgorithm string `yaml:"keyAlgorithm,omitempty"`
	// KeySize is 256 for ecdsa, 2048/3072/4096 for rsa.
	KeySize int `yaml:"keySize,omitempty"`
	// Expiry of the CA and the certificates it issues.
	Expiry Duration `yaml:"expiry,omitempty"`
	// IntermediateExpiry of the autoscaling member-issuing intermediate CA.
	IntermediateExpiry Duration `yaml:"intermediateExpiry,omitempty"`
	// Layout is "etcdboot" or "kubeadm" (/etc/kubernetes/pki/etcd/...).
	Layout string `yaml:"layout,omitempty"`
}

// Firewall says who may reach the client and metrics ports besides peers,
// and who may reach the cloud's instance metadata service.
type Firewall struct {
	// Enabled defaults to true; false leaves the node without the agent's
	// nftables table, the metadata restriction included.
	Enabled         *bool    `yaml:"enabled,omitempty"`
	ClientCIDRs     []string `yaml:"clientCIDRs,omitempty"`
	MonitoringCIDRs []string `yaml:"monitoringCIDRs,omitempty"`
	// MetadataAccess keeps the instance metadata service root's; on by
	// default (see MetadataAccess).
	MetadataAccess *MetadataAccess `yaml:"metadataAccess,omitempty"`
}

// IsEnabled reports whether the firewall is on (the default).
func (f Firewall) IsEnabled() bool { return f.Enabled == nil || *f.Enabled }

// MetadataAccess says who may reach the cloud's instance metadata service.
// A node's user data, which holds its private keys, stays readable there for
// as long as the machine lives; so by default only root (uid 0, which runs
// the agent and cloud-init) may reach Addresses, the way managed Kubernetes
// nodes restrict IMDS: etcd and every other local user are refused.
//
//	firewall:
//	  metadataAccess:
//	    rootOnly: true    # the default; false lets every local user in
//	    addresses: [169.254.169.254, fd00:ec2::254]   # the default list
//
// Turn it off (on bare metal, or for a local tool that must read instance
// metadata as another user) with metadataAccess: {rootOnly: false}.
type MetadataAccess struct {
	// RootOnly defaults to true: only uid 0 may reach Addresses. false lets
	// every local user reach the metadata service.
	RootOnly *bool `yaml:"rootOnly,omitempty"`
	// Addresses are the metadata service's IP addresses; a list replaces
	// the default (DefaultMetadataAddresses).
	Addresses []string `yaml:"addresses,omitempty"`
}

// MetadataRootOnly reports whether only root may reach the metadata service:
// true unless the firewall or metadataAccess.rootOnly is turned off.
func (f Firewall) MetadataRootOnly() bool {
	if !f.IsEnabled() {
		return false
	}
	return f.MetadataAccess == nil || f.MetadataAccess.RootOnly == nil || *f.MetadataAccess.RootOnly
}

// RootOnlyMetadataAddrs returns the addresses only root may reach: none when
// MetadataRootOnly is false, DefaultMetadataAddresses when no list is given
// (a payload of before the field existed gets the default too).
func (f Firewall) RootOnlyMetadataAddrs() ([]netip.Addr, error) {
	if !f.MetadataRootOnly() {
		return nil, nil
	}
	list := DefaultMetadataAddresses
	if f.MetadataAccess != nil && len(f.MetadataAccess.Addresses) > 0 {
		list = f.MetadataAccess.Addresses
	}
	out := make([]netip.Addr, 0, len(list))
	for i, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("firewall.metadataAccess.addresses[%d]: %q is not an IP address", i, s)
		}
		out = append(out, a)
	}
	return out, nil
}

// Payload chooses what the generator renders per node.
type Payload struct {
	// Formats lists "ignition" and/or "cloud-init"; both by default.
	Formats []string `yaml:"formats,omitempty"`
	// IgnitionVariant is the Butane variant: "fcos" (default) or "flatcar".
	IgnitionVariant string `yaml:"ignitionVariant,omitempty"`
}

// NodePayload is what one node receives in /etc/etcdboot/node.yaml: everything
// the agent needs to firewall the node and bring its member up. In a launch
// payload for an autoscaling group Node is nil and the agent derives it.
type NodePayload struct {
	APIVersion string `yaml:"apiVersion"`
	Cluster    string `yaml:"cluster"`
	Token      string `yaml:"token"`
	// Node is this node's identity; nil in an autoscaling launch payload.
	Node *Member `yaml:"node,omitempty"`
	// Members are the cluster's members known at generation (static mode).
	Members     []Member     `yaml:"members,omitempty"`
	Etcd        Etcd         `yaml:"etcd"`
	Discovery   Discovery    `yaml:"discovery"`
	Firewall    Firewall     `yaml:"firewall,omitempty"`
	TLS         NodeTLS      `yaml:"tls"`
	Autoscaling *Autoscaling `yaml:"autoscaling,omitempty"`
	Restore     *Restore     `yaml:"restore,omitempty"`
	// Backup is the cluster's backup schedule; nil when it takes none.
	Backup *Backup `yaml:"backup,omitempty"`
	// Recovery is the cluster's recovery from backups; nil is never.
	Recovery *Recovery `yaml:"recovery,omitempty"`
	// Maintenance is the cluster's defragmentation schedule; nil for none.
	Maintenance *Maintenance `yaml:"maintenance,omitempty"`
}

// NodeTLS holds the paths of the node's certificate files and the minimum
// TLS version its ports accept.
type NodeTLS struct {
	CAFile         string `yaml:"caFile"`
	ServerCertFile string `yaml:"serverCertFile"`
	ServerKeyFile  string `yaml:"serverKeyFile"`
	PeerCertFile   string `yaml:"peerCertFile"`
	PeerKeyFile    string `yaml:"peerKeyFile"`
	// IssuerCertFile and IssuerKeyFile hold the member-issuing intermediate CA
	// of an autoscaling group; the agent mints its own certificates with it.
	IssuerCertFile string `yaml:"issuerCertFile,omitempty"`
	IssuerKeyFile  string `yaml:"issuerKeyFile,omitempty"`
	// MinVersion is the cluster's tls.minVersion, which etcd's listeners
	// and the agent's metrics endpoint follow; empty is
	// DefaultTLSMinVersion (see EffectiveTLSMinVersion).
	MinVersion string `yaml:"minVersion,omitempty"`
}

// WriterLeader is Backup.Writer's default: each round, only the member that
// is the leader at that moment writes a snapshot.
const WriterLeader = "leader"

// Backup is the schedule of the snapshots members take of the cluster: a
// systemd timer runs `etcdboot-agent backup` every Interval on every member;
// only one of them (the leader, or the member Writer names) writes. Every
// snapshot is verified after writing (etcd's appended hash, revision and key
// count); that cannot be turned off.
type Backup struct {
	// Interval is the time between two rounds (the timer's OnUnitActiveSec).
	Interval Duration `yaml:"interval,omitempty"`
	// Retention is how many snapshots the target directory keeps; older
	// ones are pruned after each good round.
	Retention int `yaml:"retention,omitempty"`
	// MaxAge also prunes backups in backup.target taken longer ago than
	// this (the newest is always kept); 0 for no age limit.
	MaxAge Duration `yaml:"maxAge,omitempty"`
	// Dir is the target directory on the node.
	Dir string `yaml:"dir,omitempty"`
	// Writer is "leader" (the default) or the name of the one member that writes.
	Writer string `yaml:"writer,omitempty"`
	// Upload is a command (argv, no shell) run after each verified snapshot,
	// with ETCDBOOT_BACKUP_FILE, ETCDBOOT_BACKUP_SHA256,
	// ETCDBOOT_BACKUP_REVISION and ETCDBOOT_BACKUP_KEYS in its environment.
	Upload []string `yaml:"upload,omitempty"`
	// UploadTimeout bounds the upload command.
	UploadTimeout Duration `yaml:"uploadTimeout,omitempty"`
	// TestRestore restores the newest snapshot into a scratch directory
	// after each round and checks its revision and key count.
	TestRestore bool `yaml:"testRestore,omitempty"`
	// Target is the object store each verified snapshot is uploaded to, as
	// a URL: s3://bucket/prefix?region=...&endpoint=... (AWS or any
	// S3-compatible store), gs://bucket/prefix, azblob://container/prefix
	// or file:///path. Credentials come from the cloud's own chain
	// (instance role, environment, workload identity), never from here.
	Target string `yaml:"target,omitempty"`
}

// Restore asks the agent to rebuild its member from a snapshot.
type Restore struct {
	// Snapshot is the path of the snapshot file on the node.
	Snapshot string `yaml:"snapshot"`
	// SHA256 is the hex digest every member must see.
	SHA256 string `yaml:"sha256"`
}
