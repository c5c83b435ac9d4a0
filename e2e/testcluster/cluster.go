// Package testcluster runs a real etcd cluster of etcdboot agents in a
// netlab: it writes a cluster spec for the lab's subnet, generates it with the
// real generator, places each node's payload in a root directory of its own,
// and starts the real etcdboot-agent binary (which runs the real etcd) in each
// node's network namespace. The e2e tests and `make demo` both use it.
package testcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/spec"
)

// Options describe the cluster to run.
type Options struct {
	// Members is the member count; default 3.
	Members int
	// Discovery is static (default), dns or etcd.
	Discovery string
	// ConfigFormat is yaml (default) or env.
	ConfigFormat string
	// SpecPath, when set, is an existing spec (its addresses remapped with
	// Remap); otherwise one is written for the lab.
	SpecPath string
	Remap    string
	// Bin holds etcd, etcdctl and etcdboot-agent.
	Bin string
	// WorkDir holds the spec, out/ and each node's root.
	WorkDir string
	// FirstHost is the last octet of the first member's address; default 11.
	FirstHost int
	// ClientCIDR may reach 2379; default 10.123.0.0/25 (the lab host is .1).
	ClientCIDR string
	// DNS fills the dns discovery section (domain, server).
	DNS *spec.DNSDiscovery
	// Etcd fills the etcd discovery section.
	EtcdDiscovery *spec.EtcdDiscovery
	// GroupSize, when set, makes an autoscaling group of that size with one
	// shared launch payload; Seeds are the seed addresses' last octets.
	// New then adds no nodes: call AddNode per instance.
	GroupSize int
	Seeds     []int
	// EtcdVersion is the etcd release of the matrix every node runs, e.g.
	// "v3.5.27" (Bin/etcd-v3.5.27/etcd) and the spec's etcd.version; empty
	// is the default Bin/etcd. A node's own EtcdVersion overrides it.
	EtcdVersion string
	// SnapshotCount is the spec's etcd.snapshotCount; 0 is etcd's default.
	SnapshotCount uint64
}

// Cluster is a generated cluster with one node per member in a lab.
type Cluster struct {
	Lab    *netlab.Lab
	Opts   Options
	Out    string
	Result *generate.Result
	Nodes  []*Node
	// instances counts AddNode calls, to give each instance its own root.
	instances int
}

// Node is one member's host, root directory and agent.
type Node struct {
	Name  string
	Addr  netip.Addr
	Host  *netlab.Host
	Root  string
	Agent *netlab.Process
	c     *Cluster
	runs  int
	// started is when the current agent started; older journal records
	// belong to an earlier run.
	started time.Time
	// EtcdVersion is the release this node's agent runs (an image's etcd);
	// empty is the cluster's Options.EtcdVersion.
	EtcdVersion string
}

// New writes and generates the spec, adds a lab host per member and places
// each node's payload under its root.
func New(lab *netlab.Lab, opts Options) (*Cluster, error) {
	if opts.Members == 0 {
		opts.Members = 3
	}
	if opts.Discovery == "" {
		opts.Discovery = spec.DiscoveryStatic
	}
	if opts.ConfigFormat == "" {
		opts.ConfigFormat = spec.ConfigYAML
	}
	if opts.FirstHost == 0 {
		opts.FirstHost = 11
	}
	if opts.ClientCIDR == "" {
		opts.ClientCIDR = "10.123.0.0/25"
	}
	if err := os.MkdirAll(opts.WorkDir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{Lab: lab, Opts: opts, Out: filepath.Join(opts.WorkDir, "out")}
	genOpts := generate.Options{SpecPath: opts.SpecPath, OutDir: c.Out}
	if opts.SpecPath == "" {
		genOpts.SpecPath = filepath.Join(opts.WorkDir, "cluster.yaml")
		data, err := yaml.Marshal(c.spec())
		if err != nil {
			return nil, fmt.Errorf("marshal the lab's cluster spec: %w", err)
		}
		if err := os.WriteFile(genOpts.SpecPath, data, 0o644); err != nil {
			return nil, err
		}
	}
	if opts.Remap != "" {
		r, err := generate.ParseRemap(opts.Remap)
		if err != nil {
			return nil, err
		}
		genOpts.Remaps = []generate.Remap{r}
	}
	res, err := generate.Run(genOpts)
	if err != nil {
		return nil, err
	}
	c.Result = res
	if res.Launch != nil {
		return c, nil
	}
	for _, n := range res.Nodes {
		addr, err := netip.ParseAddr(n.Bundle.Payload.Node.IPs[0])
		if err != nil {
			return nil, err
		}
		host, err := lab.AddHost(n.Name, addr)
		if err != nil {
			return nil, err
		}
		node := &Node{Name: n.Name, Addr: addr, Host: host, Root: filepath.Join(opts.WorkDir, "nodes", n.Name), c: c}
		if err := n.Bundle.WriteTree(node.Root); err != nil {
			return nil, fmt.Errorf("place payload of %s: %w", n.Name, err)
		}
		c.Nodes = append(c.Nodes, node)
	}
	if err := c.waitLinks(15 * time.Second); err != nil {
		return nil, err
	}
	return c, nil
}

// waitLinks waits until every node's link passes traffic: a fresh veth can
// drop packets for a moment, which would show up as a slow first election.
// A dial to a closed port that is refused proves the path both ways.
func (c *Cluster) waitLinks(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, n := range c.Nodes {
		addr := netip.AddrPortFrom(n.Addr, 9).String()
		for {
			conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				conn.Close()
				break
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("link to %s never came up: %w", n.Name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// spec is the cluster spec New writes for the lab: the members (or the
// autoscaling group) at 10.123.0.0/24, the discovery the options ask for and a
// firewall that lets ClientCIDR reach the client and metrics ports.
func (c *Cluster) spec() spec.Cluster {
	o := c.Opts
	s := spec.Cluster{
		APIVersion: spec.APIVersion,
		Name:       "e2e",
		Etcd:       spec.Etcd{Version: spec.DefaultEtcdVersion, ConfigFormat: o.ConfigFormat, SnapshotCount: o.SnapshotCount},
		Discovery:  spec.Discovery{Mode: o.Discovery},
		Firewall:   spec.Firewall{ClientCIDRs: []string{o.ClientCIDR}, MonitoringCIDRs: []string{o.ClientCIDR}},
	}
	if o.EtcdVersion != "" {
		s.Etcd.Version = strings.TrimPrefix(o.EtcdVersion, "v")
	}
	if d := o.DNS; d != nil {
		s.Discovery.DNS = &spec.DNSDiscovery{Domain: d.Domain, Server: d.Server, Nameserver: d.Nameserver, Register: d.Register}
	}
	if d := o.EtcdDiscovery; d != nil {
		s.Discovery.Etcd = &spec.EtcdDiscovery{Endpoints: d.Endpoints, Token: d.Token}
	}
	if o.GroupSize > 0 {
		g := &spec.Autoscaling{Size: o.GroupSize, Subnets: []string{"10.123.0.0/24"}, Domain: "etcd.e2e.internal", NamePrefix: "etcd-"}
		for _, host := range o.Seeds {
			g.Seeds = append(g.Seeds, fmt.Sprintf("10.123.0.%d", host))
		}
		s.Autoscaling = g
		return s
	}
	for i := 0; i < o.Members; i++ {
		// Names follow addresses (10.123.0.11 is etcd1), so clusters
		// generated into one lab never share a name.
		idx := o.FirstHost - 10 + i
		m := spec.Member{Name: fmt.Sprintf("etcd%d", idx), IPs: []string{fmt.Sprintf("10.123.0.%d", o.FirstHost+i)}}
		if o.DNS != nil {
			m.FQDN = fmt.Sprintf("etcd%d.%s", idx, o.DNS.Domain)
		}
		s.Members = append(s.Members, m)
	}
	return s
}

// AddNode adds an instance of the autoscaling group at 10.123.0.<host> with
// a fresh root holding the shared launch payload.
func (c *Cluster) AddNode(host int) (*Node, error) {
	addr := netip.AddrFrom4([4]byte{10, 123, 0, byte(host)})
	name := fmt.Sprintf("n%d", host)
	var h *netlab.Host
	for _, existing := range c.Lab.Hosts() {
		if existing.Name == name {
			h = existing // a new instance on an address used before
		}
	}
	if h == nil {
		var err error
		if h, err = c.Lab.AddHost(name, addr); err != nil {
			return nil, err
		}
	}
	c.instances++
	n := &Node{Name: "etcd-10-123-0-" + fmt.Sprint(host), Addr: addr, Host: h, Root: filepath.Join(c.Opts.WorkDir, "nodes", fmt.Sprintf("%s-%d", name, c.instances)), c: c}
	if err := c.Result.Launch.Bundle.WriteTree(n.Root); err != nil {
		return nil, err
	}
	c.Nodes = append(c.Nodes, n)
	return n, c.waitLinks(15 * time.Second)
}

// Remove forgets a node (after its host is gone or its agent killed).
func (c *Cluster) Remove(n *Node) {
	for i, m := range c.Nodes {
		if m == n {
			c.Nodes = append(c.Nodes[:i], c.Nodes[i+1:]...)
			return
		}
	}
}

// PayloadPath is the node's node.yaml.
func (n *Node) PayloadPath() string { return filepath.Join(n.Root, spec.DefaultPayloadPath) }

// StateDir is the node's /var/lib/etcdboot.
func (n *Node) StateDir() string { return filepath.Join(n.Root, "var/lib/etcdboot") }

// DataDir is the node's etcd data dir.
func (n *Node) DataDir() string { return filepath.Join(n.Root, spec.DefaultDataDir) }

// LeaveArgv is the command line of `etcdboot-agent leave` for this node.
func (n *Node) LeaveArgv() []string {
	return []string{filepath.Join(n.c.Opts.Bin, "etcdboot-agent"), "leave", "--exec", "--log-level", "info",
		"--payload", n.PayloadPath(), "--root", n.Root, "--state-dir", n.StateDir()}
}

// AgentArgv is the command line of the node's agent.
func (n *Node) AgentArgv(extra ...string) []string {
	bin := n.c.Opts.Bin
	argv := []string{filepath.Join(bin, "etcdboot-agent"), "up", "--exec", "--log-level", "info",
		"--payload", n.PayloadPath(), "--root", n.Root, "--state-dir", n.StateDir(),
		"--etcd-binary", n.EtcdBinary(), "--health-timeout", "90s"}
	return append(argv, extra...)
}

// EtcdBinary is the etcd the node's agent starts: its release of the
// matrix, bin/etcd-<version>/etcd, or the default bin/etcd.
func (n *Node) EtcdBinary() string {
	v := n.EtcdVersion
	if v == "" {
		v = n.c.Opts.EtcdVersion
	}
	if v == "" {
		return filepath.Join(n.c.Opts.Bin, "etcd")
	}
	return filepath.Join(n.c.Opts.Bin, "etcd-"+v, "etcd")
}

// StartAgent starts the node's agent in its namespace.
func (n *Node) StartAgent(extra ...string) error {
	n.runs++
	n.started = time.Now()
	p, err := n.Host.Start(fmt.Sprintf("agent-%d", n.runs), n.AgentArgv(extra...), nil)
	if err != nil {
		return err
	}
	n.Agent = p
	return nil
}

// Kill kills the agent with SIGKILL (etcd dies with it) and waits for both.
func (n *Node) Kill() error {
	if n.Agent == nil {
		return nil
	}
	_ = n.Agent.Signal(syscall.SIGKILL)
	select {
	case <-n.Agent.Exited():
		return nil
	case <-time.After(15 * time.Second):
		return fmt.Errorf("agent of %s still running 15s after SIGKILL", n.Name)
	}
}

// Journal reads the node's journal.
func (n *Node) Journal() (bootstrap.JournalState, error) {
	var st bootstrap.JournalState
	data, err := os.ReadFile(filepath.Join(n.StateDir(), "journal.json"))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(data, &st)
}

// WaitHealthy waits until the agent journals the healthy step of its current
// run, failing fast when the agent exits.
func (n *Node) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if st, err := n.Journal(); err == nil && stepSince(st, bootstrap.StepHealthy, n.started) {
			return nil
		}
		if n.Agent != nil {
			select {
			case <-n.Agent.Exited():
				return fmt.Errorf("agent of %s exited (%v) before it was healthy:\n%s\netcd:\n%s", n.Name, n.Agent.ExitErr(), n.Agent.Tail(20), n.EtcdLogTail(15))
			default:
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy within %v:\n%s\netcd:\n%s", n.Name, timeout, n.agentTail(), n.EtcdLogTail(15))
}

func (n *Node) agentTail() string {
	if n.Agent == nil {
		return "(no agent)"
	}
	return n.Agent.Tail(20)
}

// EtcdLogTail is the end of the node's etcd log.
func (n *Node) EtcdLogTail(lines int) string {
	data, err := os.ReadFile(filepath.Join(n.StateDir(), "etcd.log"))
	if err != nil {
		return "(no etcd log)"
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func stepSince(st bootstrap.JournalState, s bootstrap.Step, since time.Time) bool {
	for _, r := range st.Done {
		if r.Step == s && !r.At.Before(since) {
			return true
		}
	}
	return false
}

// StartAll starts every node's agent at once.
func (c *Cluster) StartAll(extra ...string) error {
	for _, n := range c.Nodes {
		if err := n.StartAgent(extra...); err != nil {
			return err
		}
	}
	return nil
}

// WaitHealthy waits for every node.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.WaitHealthy(timeout))
	}
	return errors.Join(errs...)
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, n := range c.Nodes {
		eps = append(eps, n.ClientURL())
	}
	return eps
}

// ClientURL is the node's client URL.
func (n *Node) ClientURL() string {
	return "https://" + netip.AddrPortFrom(n.Addr, spec.DefaultClientPort).String()
}

// AdminTLS are the admin client certificate's files.
func (c *Cluster) AdminTLS() tlsfiles.Files {
	pki := filepath.Join(c.Out, "pki")
	return tlsfiles.Files{CAFile: filepath.Join(pki, "ca.crt"), CertFile: filepath.Join(pki, "admin.crt"), KeyFile: filepath.Join(pki, "admin.key")}
}

// Client connects to the given endpoints (all members when none) as admin.
func (c *Cluster) Client(endpoints ...string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		endpoints = c.Endpoints()
	}
	tlsConf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

// Put writes a key through one endpoint, retrying like a real client while
// the cluster elects a leader (until ctx ends).
func (c *Cluster) Put(ctx context.Context, endpoint, key, value string) error {
	cli, err := c.Client(endpoint)
	if err != nil {
		return err
	}
	defer cli.Close()
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = cli.Put(rctx, key, value)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Get reads a key through one endpoint (linearizable).
func (c *Cluster) Get(ctx context.Context, endpoint, key string) (string, error) {
	cli, err := c.Client(endpoint)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", fmt.Errorf("key %s not found via %s", key, endpoint)
	}
	return string(resp.Kvs[0].Value), nil
}
