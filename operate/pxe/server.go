package pxe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etcdboot/etcdboot/internal/lifecycle"
)

// Config configures a payload server. Zero fields take DefaultConfig's
// values.
type Config struct {
	// Dir is the generator's output directory: nodes/ is served, pki/ holds
	// the CA that signs the server's certificate, and serve-state.json the
	// fetch counters.
	Dir string
	// Listen is the TCP address, e.g. ":8080" or "10.123.0.2:8080"; port 0
	// picks a free port, reported by Addr.
	Listen string
	// TLS serves https with a certificate from the generator's CA, kept in
	// Dir/pki/serve.crt and serve.key. Machines must trust that CA: iPXE
	// built with it embedded (make bin-x86_64-efi/ipxe.efi TRUST=ca.crt), and
	// Ignition or cloud-init given it; plain http is what stock images fetch.
	// The minimum TLS version is the cluster's tls.minVersion, from the
	// payloads: TLS 1.3 by default, which iPXE lacks (give it TLS1.2).
	TLS bool
	// Hostnames are extra names or IPs for the TLS certificate, besides the
	// listen address and BaseURL's host.
	Hostnames []string
	// GroupsFile is an optional YAML list of Group.
	GroupsFile string
	// BaseURL is how machines reach this server, e.g. http://10.123.0.2:8080;
	// it goes into the iPXE scripts. Empty means the listen address, which
	// must then name a host.
	BaseURL string
	// AssetsDir, when set, is served at /assets/: kernels, initramfs and
	// root file systems, where the default profiles look for them.
	AssetsDir string
	// FetchLimit is how often each node's payload may be fetched before it
	// answers 410 Gone until re-armed; groups may override it. 0 is no limit.
	FetchLimit int
	// ReloadInterval is how often Dir and GroupsFile are checked for
	// changes; negative disables polling (Reload still works).
	ReloadInterval time.Duration
	// Logger receives the access log and reload messages; nil logs nothing.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults New applies to empty fields.
func DefaultConfig() Config {
	return Config{Dir: "out", Listen: ":8080", ReloadInterval: 2 * time.Second}
}

// HTTP limits: machines fetch small files over a LAN, so anything slow is
// either broken or hostile.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// ErrServerClosed is returned by Start after Shutdown and by a second
// Shutdown.
var ErrServerClosed = errors.New("payload server closed")

// ErrUnknownNode is returned by Rearm for a node the tree does not have.
var ErrUnknownNode = errors.New("no such node")

// Server serves machines their payloads from one out/ tree.
type Server struct {
	cfg    Config
	log    *slog.Logger
	store  Store
	budget *fetchBudget
	tls    *tls.Config

	snap     atomic.Pointer[Snapshot]
	reloadMu sync.Mutex // one load at a time

	// baseURL is set by Start before serving begins and not changed after.
	baseURL string

	// life starts the http.Server and the tree watcher once and stops them
	// once.
	life    lifecycle.Lifecycle
	watchWG sync.WaitGroup
}

// New checks cfg, loads the tree, the groups file and the fetch counters,
// and (with TLS) makes sure the server's certificate exists. It does not
// listen yet: see Start.
func New(cfg Config) (*Server, error) {
	def := DefaultConfig()
	if cfg.Dir == "" {
		cfg.Dir = def.Dir
	}
	if cfg.Listen == "" {
		cfg.Listen = def.Listen
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = def.ReloadInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("payload server: %w", err)
	}
	if cfg.BaseURL != "" {
		cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	}
	s := &Server{
		cfg:   cfg,
		log:   log,
		store: Store{Dir: cfg.Dir, GroupsFile: cfg.GroupsFile, FetchLimit: cfg.FetchLimit},
		life:  lifecycle.Lifecycle{Name: "payload server", Closed: ErrServerClosed, Ended: []error{http.ErrServerClosed}},
	}
	var err error
	if s.budget, err = loadBudget(filepath.Join(cfg.Dir, stateFile)); err != nil {
		return nil, fmt.Errorf("payload server: %w", err)
	}
	snap, err := s.store.Load()
	if errors.Is(err, errTreeChanged) {
		snap, err = s.store.Load()
	}
	if err != nil {
		return nil, fmt.Errorf("payload server: load %s: %w", cfg.Dir, err)
	}
	s.snap.Store(snap)
	if cfg.TLS {
		if s.tls, err = s.servingTLS(); err != nil {
			return nil, fmt.Errorf("payload server: %w", err)
		}
	}
	return s, nil
}

// check reports every problem with cfg at once.
func (cfg Config) check() error {
	var errs []error
	if cfg.BaseURL != "" {
		if err := checkBaseURL(cfg.BaseURL, cfg.TLS); err != nil {
			errs = append(errs, err)
		}
	} else if host, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w (want host:port, e.g. 10.123.0.2:8080)", cfg.Listen, err))
	} else if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		errs = append(errs, fmt.Errorf("listen address %q names no host machines can reach: set the base URL (--base-url http://10.123.0.2:8080)", cfg.Listen))
	}
	if cfg.FetchLimit < 0 {
		errs = append(errs, fmt.Errorf("fetch limit %d is negative; 0 means no limit", cfg.FetchLimit))
	}
	if cfg.AssetsDir != "" {
		if err := checkAssetsDir(cfg.AssetsDir, cfg.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkBaseURL accepts an absolute http(s) URL without query or fragment
// that can stand inside an iPXE script and a kernel command line.
func checkBaseURL(s string, withTLS bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("base URL %q: %w", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("base URL %q: want http:// or https://", s)
	case u.Host == "":
		return fmt.Errorf("base URL %q: no host", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("base URL %q: no query, fragment or user info", s)
	case strings.ContainsFunc(s, unsafeInScript) || strings.ContainsAny(s, "$;&|#"):
		return fmt.Errorf("base URL %q: no spaces or any of $;&|#: it goes into iPXE scripts and kernel command lines", s)
	case withTLS && u.Scheme == "http":
		return fmt.Errorf("base URL %q is http but TLS is on: write https://", s)
	}
	return nil
}

// checkAssetsDir refuses an assets directory that would publish the tree
// itself: keys and payloads must only leave through the guarded routes.
func checkAssetsDir(assets, dir string) error {
	fi, err := os.Stat(assets)
	if err != nil {
		return fmt.Errorf("assets directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("assets directory %s is not a directory", assets)
	}
	a, errA := filepath.Abs(assets)
	d, errD := filepath.Abs(dir)
	if errA != nil || errD != nil {
		return fmt.Errorf("assets directory %s: cannot resolve it against %s", assets, dir)
	}
	if rel, err := filepath.Rel(a, d); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
		return fmt.Errorf("assets directory %s contains %s, whose keys must not be served as files: use a directory of its own", assets, dir)
	}
	return nil
}

// Snapshot returns the snapshot being served.
func (s *Server) Snapshot() *Snapshot { return s.snap.Load() }

// Addr returns the address the server listens on, e.g. "127.0.0.1:40080";
// empty before Start.
func (s *Server) Addr() string { return s.life.Addr() }

// BaseURL returns the URL machines are told to fetch from; empty before
// Start when Config.BaseURL is empty.
func (s *Server) BaseURL() string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	if addr := s.Addr(); addr != "" {
		return s.scheme() + "://" + addr
	}
	return ""
}

func (s *Server) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

// Start listens on Config.Listen and serves in the background until
// Shutdown; it also starts polling the tree for changes.
func (s *Server) Start() error {
	if err := s.life.Start(s.listen); err != nil {
		return err
	}
	snap := s.Snapshot()
	s.log.Info("payload server listening", "addr", s.Addr(), "base_url", s.baseURL, "tls", s.tls != nil,
		"nodes", len(snap.nodes), "machines", len(snap.machines), "fetch_limit", s.cfg.FetchLimit)
	return nil
}

// listen binds the TCP socket, sets the base URL and starts the watcher; it
// returns the http.Server's serve loop, and a stop that ends the watcher
// first, then the requests in flight, closing their connections past ctx.
func (s *Server) listen() (lifecycle.Serving, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return lifecycle.Serving{}, fmt.Errorf("payload server: listen: %w", err)
	}
	addr := ln.Addr().String()
	s.baseURL = s.cfg.BaseURL
	if s.baseURL == "" {
		s.baseURL = s.scheme() + "://" + addr
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	stop := make(chan struct{})
	if s.cfg.ReloadInterval > 0 {
		s.watchWG.Add(1)
		go s.watch(stop, s.cfg.ReloadInterval)
	}
	return lifecycle.Serving{
		Addr: addr,
		Loops: []lifecycle.Loop{func(started func()) error {
			started()
			return srv.Serve(ln)
		}},
		Stop: func(ctx context.Context) error {
			close(stop)
			s.watchWG.Wait()
			err := srv.Shutdown(ctx)
			if err != nil {
				_ = srv.Close()
			}
			return err
		},
	}, nil
}

// Shutdown stops polling and listening and waits, up to ctx, for requests in
// flight to finish; past ctx it closes their connections.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.life.Stop(ctx); err != nil {
		return err
	}
	if addr := s.Addr(); addr != "" {
		s.log.Info("payload server stopped", "addr", addr)
	}
	return nil
}

// Reload reads the tree and the groups file again now and serves the result;
// on any error the previous snapshot stays in service.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	snap, err := s.store.Load()
	if err != nil {
		return fmt.Errorf("reload %s: %w", s.cfg.Dir, err)
	}
	s.snap.Store(snap)
	s.log.Info("reloaded", "dir", s.cfg.Dir, "nodes", len(snap.nodes), "machines", len(snap.machines))
	return nil
}

// watch polls the tree's fingerprint every interval. A change is loaded once
// the fingerprint has held still for one interval, so a generator run in
// progress is not caught between two of a node's files; a tree that fails to
// load is logged once and retried when it changes again.
func (s *Server) watch(stop <-chan struct{}, interval time.Duration) {
	defer s.watchWG.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending, failed, statErr string
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		fp, err := s.store.fingerprint()
		if err != nil {
			if err.Error() != statErr {
				s.log.Error("reload: cannot read the tree; still serving the previous snapshot", "err", err)
				statErr = err.Error()
			}
			continue
		}
		statErr = ""
		var load bool
		if load, pending = shouldLoad(fp, s.Snapshot().fingerprint, pending, failed); !load {
			continue
		}
		err = s.Reload()
		switch {
		case errors.Is(err, errTreeChanged):
			s.log.Debug("reload: files changed while reading; trying again", "dir", s.cfg.Dir)
		case err != nil:
			s.log.Error("reload failed; still serving the previous snapshot", "err", err)
			failed = fp
		default:
			failed = ""
		}
	}
}

// shouldLoad decides, at one poll, whether to load the tree whose
// fingerprint is now fp: not when it is what is served or what last failed,
// not at the first poll that sees it (pending becomes fp), but at the second
// that sees it unchanged. It returns the next pending fingerprint.
func shouldLoad(fp, served, pending, failed string) (load bool, nextPending string) {
	switch {
	case fp == served || fp == failed:
		return false, ""
	case fp != pending:
		return false, fp
	}
	return true, ""
}

// Rearm resets node's fetch counter, so its payload can be fetched again up
// to its limit.
func (s *Server) Rearm(node string) error {
	if s.Snapshot().Node(node) == nil {
		return fmt.Errorf("rearm %q: %w", node, ErrUnknownNode)
	}
	if err := s.budget.rearm([]string{node}); err != nil {
		return fmt.Errorf("rearm %s: %w", node, err)
	}
	s.log.Info("fetch budget re-armed", "node", node)
	return nil
}

// RearmAll resets every node's fetch counter.
func (s *Server) RearmAll() error {
	if err := s.budget.rearm(nil); err != nil {
		return fmt.Errorf("rearm all nodes: %w", err)
	}
	s.log.Info("fetch budget re-armed", "node", "*")
	return nil
}

// Run serves cfg until ctx is done, then shuts down gracefully. Each value
// received on rearm (SIGHUP in etcdboot serve) re-arms every node's fetch
// budget and reloads the tree. One line saying where it serves goes to
// status.
func Run(ctx context.Context, cfg Config, rearm <-chan os.Signal, status io.Writer) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	started := func() {
		snap := s.Snapshot()
		fmt.Fprintf(status, "serving %d machines (%d nodes) from %s on %s; point iPXE at %s/boot.ipxe\n",
			len(snap.machines), len(snap.nodes), s.cfg.Dir, s.Addr(), s.BaseURL())
	}
	return lifecycle.Run(ctx, s, started, rearm, func() {
		if err := s.RearmAll(); err != nil {
			s.log.Error("re-arm failed", "err", err)
		}
		if err := s.Reload(); err != nil {
			s.log.Error("reload failed; still serving the previous snapshot", "err", err)
		}
	})
}
