package bootstrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

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
		EtcdConfigDir:    "/etc/etcd",
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

// Agent brings one member up. Build it with NewAgent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	payload *spec.NodePayload
	journal *Journal
	minor   int
	peers   []spec.Member
	plan    Plan
	sup     *Supervisor
	// running is the healthy cluster discovery found, if any.
	running *runningCluster
	// joiner holds the join lock and client from membership to promotion.
	joiner *joiner
	// joinInitialCluster is --initial-cluster for a join: the current members.
	joinInitialCluster string
	// metrics are the agent's own metrics, once served.
	metrics *monitoring.AgentMetrics
	// awaitAddrs makes the payload step wait for the member's address.
	awaitAddrs bool
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
func (a *Agent) path(p string) string {
	if a.cfg.Root == "" || a.cfg.Root == "/" {
		return p
	}
	return filepath.Join(a.cfg.Root, p)
}

// Journal returns the agent's journal.
func (a *Agent) Journal() *Journal { return a.journal }

// Up runs every step: payload, firewall, discovery, plan, data dir, config,
// start, health gate. In exec mode it then supervises etcd until ctx ends or
// etcd exits.
func (a *Agent) Up(ctx context.Context) error {
	prev := a.journal.State
	a.awaitAddrs = true
	a.journal.State.Done = nil
	steps := []struct {
		step Step
		run  func(context.Context) error
	}{
		{StepPayload, a.loadPayload},
		{StepFirewall, a.applyFirewall},
		{StepDiscovery, a.discover},
		{StepPlan, func(ctx context.Context) error { return a.decide(ctx, prev) }},
		{StepDataDir, a.prepareDataDir},
		{StepMembership, a.membership},
		{StepConfig, a.writeConfig},
		{StepStart, a.start},
		{StepHealthy, a.waitHealthy},
	}
	for _, s := range steps {
		if s.step == StepHealthy && !a.cfg.Exec {
			// etcd.service is ordered after this agent: waiting here would
			// wait for ourselves. Its ExecStartPost runs `etcdboot-agent ready`.
			a.log.Info("handed over to systemd; etcd.service runs the health gate", "unit", a.cfg.Unit)
			return nil
		}
		a.log.Info("step", "step", s.step)
		a.setPhase(string(s.step))
		if err := s.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.step, err)
		}
		if err := a.journal.Record(s.step, a.cfg.Now()); err != nil {
			return err
		}
		if s.step == StepPayload && a.cfg.Exec {
			// The supervisor lives as long as etcd: it serves the agent's metrics.
			if err := a.startMetrics(ctx); err != nil {
				a.log.Warn("agent metrics not served", "err", err)
			}
		}
		if a.cfg.CrashAfter == s.step {
			a.log.Warn("crashing on purpose", "after", s.step)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
	a.log.Info("member ready", "member", a.payload.Node.Name, "plan", a.plan.Action)
	a.setPhase(monitoring.PhaseReady)
	if a.sup != nil {
		return a.supervise(ctx)
	}
	return nil
}

func (a *Agent) loadPayload(ctx context.Context) error {
	p, err := spec.LoadNodePayload(a.cfg.PayloadPath)
	if err != nil {
		return err
	}
	minor, err := spec.EtcdMinor(p.Etcd.Version)
	if err != nil {
		return fmt.Errorf("%s: etcd.version: %w", a.cfg.PayloadPath, err)
	}
	a.payload, a.minor = p, minor
	if p.Node == nil {
		// A launch payload of an autoscaling group: who we are comes from
		// the host, our certificates from the group's intermediate.
		var self spec.Member
		err := a.awaitHostAddrs(ctx, func(addrs []netip.Addr) (err error) {
			self, err = GroupIdentity(p.Autoscaling, addrs)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", a.cfg.PayloadPath, err)
		}
		p.Node = &self
		if err := a.mintCertificates(); err != nil {
			return err
		}
		a.log.Info("identity", "member", self.Name, "ip", self.IPs[0])
	}
	if a.awaitAddrs {
		// etcd cannot bind an address the host does not carry.
		if err := a.awaitHostAddrs(ctx, func(addrs []netip.Addr) error { return missingAddrs(a.nodeAddrs(), addrs) }); err != nil {
			return fmt.Errorf("%s: node %s: %w", a.cfg.PayloadPath, p.Node.Name, err)
		}
	}
	if a.journal.State.Token != p.Token || a.journal.State.Member != p.Node.Name {
		// A journal of another cluster or member is an earlier life of this disk.
		a.journal.State = JournalState{Token: p.Token, Member: p.Node.Name, MovedAside: a.journal.State.MovedAside}
	}
	return a.checkCertificates()
}

func (a *Agent) nodeAddrs() []netip.Addr {
	var out []netip.Addr
	for _, s := range a.payload.Node.IPs {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

func (a *Agent) peerURLs() []string { return PeerURLs(*a.payload.Node, a.payload.Etcd.PeerPort) }

func (a *Agent) decide(ctx context.Context, prev JournalState) error {
	dataDir := a.path(a.payload.Etcd.DataDir)
	rep, err := InspectDataDir(dataDir, a.payload.Node.Name, a.peerURLs(), a.payload.Token, a.journal.State.MemberID)
	if err != nil {
		return fmt.Errorf("etcd.dataDir %s: %w", dataDir, err)
	}
	obs := Observed{DataDir: rep.State, DataDirDetail: rep.Detail}
	if p := a.payload.Restore; p != nil {
		obs.Restore, obs.RestoreDone = true, a.journal.State.RestoredSHA256 == p.SHA256
	}
	if prev.Plan != nil && prev.Token == a.payload.Token && !containsStep(prev.Done, StepHealthy) {
		obs.Journaled = prev.Plan.Action
	}
	if a.running != nil {
		obs.ClusterRunning = true
		obs.Self, _ = a.selfIn(a.running.members)
	}
	plan, err := Decide(obs)
	if err != nil {
		return fmt.Errorf("etcd.dataDir %s: %w", dataDir, err)
	}
	if (plan.Action == ActionJoin || plan.Action == ActionRejoin) && a.running == nil {
		// Resuming a join while the cluster does not answer yet: wait for it.
		if err := retry(ctx, a, "finding the running cluster to resume the join", func() error {
			rc, err := a.probeCluster(ctx, addrsOf(a.candidates()))
			if err == nil && rc == nil {
				err = errors.New("no member answers yet")
			}
			a.running = rc
			return err
		}); err != nil {
			return err
		}
	}
	a.plan = plan
	a.journal.State.Plan = &plan
	a.log.Info("plan", "action", plan.Action, "reason", plan.Reason)
	return nil
}

func containsStep(done []StepRecord, s Step) bool {
	for _, r := range done {
		if r.Step == s {
			return true
		}
	}
	return false
}

func (a *Agent) prepareDataDir(context.Context) error {
	dataDir := a.path(a.payload.Etcd.DataDir)
	if a.plan.Action == ActionRestore {
		// Refuse a wrong snapshot before touching the data dir.
		if err := checkSnapshotDigest(a.path(a.payload.Restore.Snapshot), a.payload.Restore.SHA256); err != nil {
			return err
		}
	}
	if a.plan.MoveAside {
		moved, err := MoveAside(dataDir, string(a.plan.Action), a.cfg.Now())
		if err != nil {
			return err
		}
		if moved != "" {
			// Journal the move at once: a later failure must not lose where
			// the old data went.
			a.journal.State.MovedAside = append(a.journal.State.MovedAside, moved)
			if err := a.journal.Save(); err != nil {
				return err
			}
			a.log.Warn("data dir moved aside", "from", dataDir, "to", moved)
		}
	}
	if a.plan.Action == ActionRestore {
		if err := RestoreMember(a.payload, a.cfg.Root, a.peers, a.log); err != nil {
			return err
		}
		// Journal at once: a rerun must not restore this snapshot again.
		a.journal.State.RestoredSHA256 = a.payload.Restore.SHA256
		if err := a.journal.Save(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return err
	}
	if a.cfg.Exec || a.cfg.EtcdUser == "" {
		return nil
	}
	return chownTree(dataDir, a.cfg.EtcdUser)
}

// chownTree gives a data dir to the user etcd runs as under systemd.
func chownTree(dir, user string) error {
	u, err := osuser.Lookup(user)
	if err != nil {
		return fmt.Errorf("etcd runs as user %q, which does not exist: %w; the image must create it", user, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// Ready is the health gate alone, for etcd.service's ExecStartPost: it waits
// until the member answers ready and journals it.
func (a *Agent) Ready(ctx context.Context) error {
	if err := a.loadPayload(ctx); err != nil {
		return fmt.Errorf("%s: %w", StepPayload, err)
	}
	if err := a.waitHealthy(ctx); err != nil {
		return fmt.Errorf("%s: %w", StepHealthy, err)
	}
	return a.journal.Record(StepHealthy, a.cfg.Now())
}

// EtcdConfig computes this member's etcd settings for the plan.
func (a *Agent) EtcdConfig() EtcdConfig {
	p, e := a.payload, a.payload.Etcd
	var clientURLs, metricsURLs []string
	for _, ip := range a.nodeAddrs() {
		clientURLs = append(clientURLs, hostURL("https", ip, e.ClientPort))
		metricsURLs = append(metricsURLs, hostURL("https", ip, e.MetricsPort))
	}
	c := EtcdConfig{
		Minor:                    a.minor,
		Name:                     p.Node.Name,
		DataDir:                  a.path(e.DataDir),
		ListenPeerURLs:           a.peerURLs(),
		ListenClientURLs:         append(clientURLs, hostURL("https", netip.MustParseAddr("127.0.0.1"), e.ClientPort)),
		ListenMetricsURLs:        append(metricsURLs, hostURL("https", netip.MustParseAddr("127.0.0.1"), e.MetricsPort)),
		AdvertiseClientURLs:      clientURLs,
		InitialAdvertisePeerURLs: a.peerURLs(),
		InitialClusterState:      a.plan.ClusterState,
		InitialClusterToken:      p.Token,
		HeartbeatMs:              e.HeartbeatInterval.Std().Milliseconds(),
		ElectionMs:               e.ElectionTimeout.Std().Milliseconds(),
		SnapshotCount:            e.SnapshotCount,
		QuotaBackendBytes:        int64(e.QuotaBackendBytes),
		AutoCompactionMode:       e.AutoCompactionMode,
		AutoCompactionRetention:  e.AutoCompactionRetention,
		CAFile:                   a.path(p.TLS.CAFile),
		CertFile:                 a.path(p.TLS.ServerCertFile),
		KeyFile:                  a.path(p.TLS.ServerKeyFile),
		PeerCertFile:             a.path(p.TLS.PeerCertFile),
		PeerKeyFile:              a.path(p.TLS.PeerKeyFile),
	}
	switch {
	case a.plan.Action == ActionJoin || a.plan.Action == ActionRejoin:
		c.InitialCluster = a.joinInitialCluster
	case p.Discovery.Mode == spec.DiscoveryEtcd && a.running == nil:
		c.DiscoveryToken, c.DiscoveryEndpoints = p.Discovery.Etcd.Token, p.Discovery.Etcd.Endpoints
	default:
		c.InitialCluster = InitialCluster(a.peers, e.PeerPort)
	}
	return c
}

// EnvFilePath is the environment file etcd.service reads.
func (a *Agent) EnvFilePath() string { return a.path(filepath.Join(a.cfg.EtcdConfigDir, "etcd.conf")) }

// writeConfig writes etcd.conf; in yaml format it holds only
// ETCD_CONFIG_FILE, so etcd never gets one setting twice.
func (a *Agent) writeConfig(context.Context) error {
	c := a.EtcdConfig()
	env := c.Env()
	if a.payload.Etcd.ConfigFormat == spec.ConfigYAML {
		yamlPath := a.path(filepath.Join(a.cfg.EtcdConfigDir, "etcd.yaml"))
		data, err := c.YAML()
		if err != nil {
			return err
		}
		if err := writeFileAtomic(yamlPath, data, 0o644); err != nil {
			return err
		}
		env = []byte("# Written by etcdboot-agent: etcd reads its settings from the config file.\n" + EnvName("config-file") + "=" + yamlPath + "\n")
	}
	return writeFileAtomic(a.EnvFilePath(), env, 0o644)
}

func (a *Agent) start(ctx context.Context) error {
	if !a.cfg.Exec {
		return StartSystemd(ctx, a.cfg.Unit)
	}
	var ports []string
	for _, ip := range a.nodeAddrs() {
		ports = append(ports, net.JoinHostPort(ip.String(), strconv.Itoa(a.payload.Etcd.PeerPort)),
			net.JoinHostPort(ip.String(), strconv.Itoa(a.payload.Etcd.ClientPort)))
	}
	a.sup = &Supervisor{Binary: a.cfg.EtcdBinary, EnvFile: a.EnvFilePath(), StateDir: a.cfg.StateDir, Ports: ports}
	return a.sup.Start(ctx)
}

// TLSFiles are the node's files for talking to its own member as a client.
func (a *Agent) TLSFiles() TLSFiles {
	t := a.payload.TLS
	return TLSFiles{CAFile: a.path(t.CAFile), CertFile: a.path(t.ServerCertFile), KeyFile: a.path(t.ServerKeyFile)}
}

func (a *Agent) clientURL() string {
	return hostURL("https", a.nodeAddrs()[0], a.payload.Etcd.ClientPort)
}

func (a *Agent) waitHealthy(ctx context.Context) error {
	tlsConf, err := a.TLSFiles().ClientConfig()
	if err != nil {
		return err
	}
	// A learner is alive before it is ready: promote it, then gate.
	if err := a.waitURL(ctx, LiveURL(a.clientURL(), a.minor), tlsConf); err != nil {
		return err
	}
	id, err := a.promoteIfLearner(ctx, tlsConf)
	if err != nil {
		return err
	}
	url := HealthURL(a.clientURL(), a.minor)
	if err := a.waitURL(ctx, url, tlsConf); err != nil {
		return err
	}
	a.journal.State.MemberID = id
	return nil
}

// waitURL waits for url to answer ready, failing fast if etcd exits.
func (a *Agent) waitURL(ctx context.Context, url string, tlsConf *tls.Config) error {
	ready := make(chan error, 1)
	go func() { ready <- WaitReady(ctx, url, tlsConf, a.cfg.HealthTimeout) }()
	var exited <-chan error
	if a.sup != nil {
		exited = a.sup.Done()
	}
	select {
	case err := <-ready:
		if err != nil {
			return err
		}
	case err := <-exited:
		return fmt.Errorf("etcd exited before it was ready (%v); see %s", err, a.sup.LogPath())
	}
	return nil
}

// promoteIfLearner promotes this member when it is a learner: the one this
// run added (a.joiner), or one an earlier run or the `up` process before
// this health gate added. The request goes to the voting members the join
// journaled, since a learner serves none. It returns the member's ID.
func (a *Agent) promoteIfLearner(ctx context.Context, tlsConf *tls.Config) (uint64, error) {
	if j := a.joiner; j != nil {
		return j.id, a.promote(ctx)
	}
	st, err := a.memberStatus(ctx, tlsConf)
	if err != nil {
		return 0, err
	}
	id := st.Header.MemberId
	if !st.IsLearner {
		return id, nil
	}
	eps := a.journal.State.JoinEndpoints
	if len(eps) == 0 {
		return 0, fmt.Errorf("member %x is a learner but the journal %s names no voting members to promote it: run etcdboot-agent up again", id, a.journal.path)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		return 0, fmt.Errorf("etcd client for %v: %w", eps, err)
	}
	a.joiner = &joiner{cli: cli, id: id}
	return id, a.promote(ctx)
}

// memberStatus asks this node's own member for its status, which a learner
// answers too.
func (a *Agent) memberStatus(ctx context.Context, tlsConf *tls.Config) (*clientv3.StatusResponse, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{a.clientURL()}, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := cli.Status(sctx, a.clientURL())
	if err != nil {
		return nil, fmt.Errorf("member status: %w", err)
	}
	return st, nil
}

// supervise forwards SIGTERM and SIGINT to etcd and returns when it exits.
func (a *Agent) supervise(ctx context.Context) error {
	// The supervisor also keeps the firewall in step with membership.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() {
		if err := a.Watch(wctx); err != nil {
			a.log.Warn("watch stopped", "err", err)
		}
	}()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	for {
		select {
		case sig := <-sigs:
			a.log.Info("stopping etcd", "signal", sig)
			return a.sup.Stop(30 * time.Second)
		case <-ctx.Done():
			return a.sup.Stop(30 * time.Second)
		case err := <-a.sup.Done():
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("etcd exited (%v); see %s", err, a.sup.LogPath())
		}
	}
}
