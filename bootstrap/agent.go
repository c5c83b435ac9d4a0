package bootstrap

import (
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/spec"
)

// Config is how the agent runs; the payload says what it runs.
type Config struct {
	// PayloadPath is the node payload (node.yaml), outside Root.
	PayloadPath string
	// StateDir holds the journal, etcd.pid and etcd.log.
	StateDir string
	// Root prefixes every path the payload names (certificates, data dir,
	// etcd's config): "" or "/" on a real node, a directory per node in tests.
	Root string
	// EtcdConfigDir is where etcd.conf (and etcd.yaml) are written, under Root.
	EtcdConfigDir string
	// EtcdBinary is the etcd executable for exec mode.
	EtcdBinary string
	// Exec supervises etcd as a child instead of handing over to systemd.
	Exec bool
	// Unit is the systemd unit that runs etcd.
	Unit string
	// EtcdUser owns the data dir in systemd mode, where etcd runs as it.
	EtcdUser string
	// HealthTimeout bounds the wait for the member to become ready.
	HealthTimeout time.Duration
	// RenewInterval is how often watch re-checks self-minted certificates;
	// they are renewed once a third of their life is left.
	RenewInterval time.Duration
	// DiscoveryTimeout bounds the wait for peers to appear in DNS.
	DiscoveryTimeout time.Duration
	// AddressTimeout bounds up's wait for the host to carry the member's
	// address (the network may come up after the agent starts).
	AddressTimeout time.Duration
	// CrashAfter kills the agent with SIGKILL right after it journals this
	// step: fault injection for the crash-and-resume tests.
	CrashAfter Step
	Logger     *slog.Logger
	// Now is the clock; tests may set it.
	Now func() time.Time
}

// DefaultConfig is the configuration of a real node.
func DefaultConfig() Config {
	return Config{
		PayloadPath:      spec.DefaultPayloadPath,
		StateDir:         "/var/lib/etcdboot",
		EtcdConfigDir:    etcdconfig.DefaultDir,
		EtcdBinary:       "/usr/local/bin/etcd",
		Unit:             "etcd.service",
		EtcdUser:         "etcd",
		HealthTimeout:    5 * time.Minute,
		DiscoveryTimeout: 10 * time.Minute,
		AddressTimeout:   2 * time.Minute,
		RenewInterval:    10 * time.Minute,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:              time.Now,
	}
}

// Agent brings one member up. Build it with NewAgent. It holds only its
// configuration and long-lived handles; what each step finds or decides is
// passed on as values (see upState).
type Agent struct {
	cfg     Config
	log     *slog.Logger
	journal *Journal
	// metrics are the agent's own metrics, once served.
	metrics *monitoring.AgentMetrics
	// maintenanceMetrics are its maintenance rounds' and the cluster's
	// alarms, served beside them.
	maintenanceMetrics *monitoring.MaintenanceMetrics
	// issuerMetrics are an autoscaling group's issuer's validity and the
	// renewed issuers the watcher installed or refused.
	issuerMetrics *monitoring.IssuerMetrics
}

// NewAgent checks cfg and opens the journal.
func NewAgent(cfg Config) (*Agent, error) {
	def := DefaultConfig()
	if cfg.Logger == nil {
		cfg.Logger = def.Logger
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HealthTimeout == 0 {
		cfg.HealthTimeout = def.HealthTimeout
	}
	if cfg.RenewInterval == 0 {
		cfg.RenewInterval = def.RenewInterval
	}
	if cfg.DiscoveryTimeout == 0 {
		cfg.DiscoveryTimeout = def.DiscoveryTimeout
	}
	if cfg.AddressTimeout == 0 {
		cfg.AddressTimeout = def.AddressTimeout
	}
	if cfg.EtcdConfigDir == "" {
		cfg.EtcdConfigDir = def.EtcdConfigDir
	}
	if cfg.Unit == "" {
		cfg.Unit = def.Unit
	}
	j, err := OpenJournal(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, log: cfg.Logger, journal: j}, nil
}

// path maps a path named in the payload to the node's filesystem.
func (a *Agent) path(p string) string { return etcdconfig.Path(a.cfg.Root, p) }

// Journal returns the agent's journal.
func (a *Agent) Journal() *Journal { return a.journal }

// EnvFilePath is the environment file etcd.service reads.
func (a *Agent) EnvFilePath() string { return a.path(filepath.Join(a.cfg.EtcdConfigDir, "etcd.conf")) }

// tlsFiles are the node's files for talking to its own member as a client.
func (a *Agent) tlsFiles(n node) TLSFiles {
	t := n.payload.TLS
	return TLSFiles{CAFile: a.path(t.CAFile), CertFile: a.path(t.ServerCertFile), KeyFile: a.path(t.ServerKeyFile)}
}
