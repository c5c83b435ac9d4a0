package spec

import (
	"slices"
	"time"
)

// etcd's own defaults, used where the operator leaves a setting out.
const (
	DefaultEtcdVersion       = "3.6.16"
	DefaultDataDir           = "/var/lib/etcd"
	DefaultClientPort        = 2379
	DefaultPeerPort          = 2380
	DefaultMetricsPort       = 2381
	EtcdHeartbeatInterval    = 100 * time.Millisecond
	EtcdElectionTimeout      = 1000 * time.Millisecond
	DefaultCertExpiry        = 5 * 365 * 24 * time.Hour
	DefaultIntermediateLife  = 30 * 24 * time.Hour
	DefaultPayloadPath       = "/etc/etcdboot/node.yaml"
	DefaultTLSDir            = "/etc/etcdboot/pki"
	KubeadmTLSDir            = "/etc/kubernetes/pki/etcd"
	DefaultIgnitionVariant   = "fcos"
	DefaultAutoscalingPrefix = "etcd-"
	DefaultBackupInterval    = time.Hour
	DefaultBackupRetention   = 24
	DefaultBackupDir         = "/var/backups/etcd"
	DefaultUploadTimeout     = 15 * time.Minute
)

// DefaultMetadataAddresses are the cloud instance metadata service's
// addresses firewall.metadataAccess keeps root's by default: 169.254.169.254
// (AWS, GCP, Azure, OpenStack and most others) and fd00:ec2::254 (AWS's
// IPv6 endpoint).
var DefaultMetadataAddresses = []string{"169.254.169.254", "fd00:ec2::254"}

// ApplyDefaults fills every unset field of c with etcdboot's default.
// Tuning left at zero stays zero: the agent then leaves it to etcd.
func (c *Cluster) ApplyDefaults() {
	if c.APIVersion == "" {
		c.APIVersion = APIVersion
	}
	if c.Token == "" {
		c.Token = c.Name
	}
	c.Etcd.applyDefaults()
	if c.Discovery.Mode == "" {
		c.Discovery.Mode = DiscoveryStatic
	}
	if c.Discovery.Etcd != nil && c.Discovery.Etcd.Size == 0 {
		c.Discovery.Etcd.Size = c.Size()
	}
	if c.PKI.KeyAlgorithm == "" {
		c.PKI.KeyAlgorithm = KeyECDSA
	}
	if c.PKI.KeySize == 0 {
		c.PKI.KeySize = 256
		if c.PKI.KeyAlgorithm == KeyRSA {
			c.PKI.KeySize = 2048
		}
	}
	if c.PKI.Expiry == 0 {
		c.PKI.Expiry = Duration(DefaultCertExpiry)
	}
	if c.PKI.IntermediateExpiry == 0 {
		c.PKI.IntermediateExpiry = Duration(DefaultIntermediateLife)
	}
	if c.PKI.Layout == "" {
		c.PKI.Layout = LayoutEtcdboot
	}
	c.Firewall.applyDefaults()
	if c.TLS.MinVersion == "" {
		c.TLS.MinVersion = DefaultTLSMinVersion
	}
	if len(c.Payload.Formats) == 0 {
		c.Payload.Formats = []string{FormatIgnition, FormatCloudInit}
	}
	if c.Payload.IgnitionVariant == "" {
		c.Payload.IgnitionVariant = DefaultIgnitionVariant
	}
	if c.Autoscaling != nil && c.Autoscaling.NamePrefix == "" {
		c.Autoscaling.NamePrefix = DefaultAutoscalingPrefix
	}
	if c.Backup != nil {
		c.Backup.ApplyDefaults()
	}
	if c.Maintenance != nil {
		c.Maintenance.ApplyDefaults()
	}
}

// ApplyDefaults fills every unset field of a backup section: hourly, 24
// snapshots kept, in /var/backups/etcd, written by the leader.
func (b *Backup) ApplyDefaults() {
	if b.Interval == 0 {
		b.Interval = Duration(DefaultBackupInterval)
	}
	if b.Retention == 0 {
		b.Retention = DefaultBackupRetention
	}
	if b.Dir == "" {
		b.Dir = DefaultBackupDir
	}
	if b.Writer == "" {
		b.Writer = WriterLeader
	}
	if b.UploadTimeout == 0 {
		b.UploadTimeout = Duration(DefaultUploadTimeout)
	}
}

// applyDefaults writes the metadata restriction out in full, so that the
// payload says what the agent enforces: rootOnly true with the default
// addresses unless the spec says otherwise. A disabled firewall gets none:
// the agent then installs no table at all.
func (f *Firewall) applyDefaults() {
	if !f.IsEnabled() {
		return
	}
	if f.MetadataAccess == nil {
		f.MetadataAccess = &MetadataAccess{}
	}
	m := f.MetadataAccess
	if m.RootOnly == nil {
		rootOnly := true
		m.RootOnly = &rootOnly
	}
	if *m.RootOnly && len(m.Addresses) == 0 {
		m.Addresses = slices.Clone(DefaultMetadataAddresses)
	}
}

func (e *Etcd) applyDefaults() {
	if e.Version == "" {
		e.Version = DefaultEtcdVersion
	}
	if e.DataDir == "" {
		e.DataDir = DefaultDataDir
	}
	if e.ConfigFormat == "" {
		e.ConfigFormat = ConfigYAML
	}
	if e.ClientPort == 0 {
		e.ClientPort = DefaultClientPort
	}
	if e.PeerPort == 0 {
		e.PeerPort = DefaultPeerPort
	}
	if e.MetricsPort == 0 {
		e.MetricsPort = DefaultMetricsPort
	}
}

// Size is the number of voting members: the member list, or the autoscaling size.
func (c *Cluster) Size() int {
	if c.Autoscaling != nil {
		return c.Autoscaling.Size
	}
	return len(c.Members)
}

// EffectiveHeartbeat is the heartbeat interval etcd will use.
func (e Etcd) EffectiveHeartbeat() time.Duration {
	if e.HeartbeatInterval == 0 {
		return EtcdHeartbeatInterval
	}
	return e.HeartbeatInterval.Std()
}

// EffectiveElectionTimeout is the election timeout etcd will use.
func (e Etcd) EffectiveElectionTimeout() time.Duration {
	if e.ElectionTimeout == 0 {
		return EtcdElectionTimeout
	}
	return e.ElectionTimeout.Std()
}
