package generate

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/ignition"
	"github.com/etcdboot/etcdboot/internal/atomicfile"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/spec"
)

// Options are the inputs of one generator run besides the spec itself.
type Options struct {
	// SpecPath is the cluster spec file.
	SpecPath string
	// OutDir receives pki/, nodes/, dns/, monitoring/ and kubeadm/.
	OutDir string
	// Rotate issues a new CA and new keys instead of keeping existing ones.
	Rotate bool
	// Remaps move the spec's addresses to other subnets (labs, demos).
	Remaps []Remap
	// CreateDiscoveryToken, when set, also creates the etcd v3 discovery
	// token on the discovery cluster (as etcdboot discovery new does), with
	// these client certificates.
	CreateDiscoveryToken *tlsfiles.Files
	Logger               *slog.Logger
}

// Result is what a run produced.
type Result struct {
	Cluster *spec.Cluster
	// Warnings are the spec's warnings (for example an even member count).
	Warnings []spec.Problem
	Nodes    []Node
	// Launch is the autoscaling group's shared payload, if the spec has one.
	Launch *Node
	// Files lists every file written, relative to OutDir.
	Files []string
}

// Node is one node's (or a launch group's) rendered payload.
type Node struct {
	Name   string
	Bundle ignition.Bundle
	// Dir is out/nodes/<name>.
	Dir string
}

// Run loads the spec, applies remaps, validates, and writes the whole tree.
func Run(opts Options) (*Result, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	data, err := os.ReadFile(opts.SpecPath)
	if err != nil {
		return nil, fmt.Errorf("read cluster spec: %w", err)
	}
	c, rep, err := spec.ParseCluster(opts.SpecPath, data)
	if err != nil {
		return nil, err
	}
	if len(opts.Remaps) > 0 {
		for _, r := range opts.Remaps {
			r.apply(c)
		}
		if problems := c.Validate(nil); (spec.Report{Problems: problems}).HasErrors() {
			return nil, fmt.Errorf("after remapping addresses: %w", spec.Report{Problems: problems}.Err())
		}
	}
	return Cluster(c, rep.Warnings(), opts)
}

// Cluster writes the tree for an already loaded and validated cluster.
func Cluster(c *spec.Cluster, warnings []spec.Problem, opts Options) (*Result, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g := &generator{c: c, opts: opts, res: &Result{Cluster: c, Warnings: warnings}}
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"pki", g.pki},
		{"discovery token", g.discoveryToken},
		{"dns update key", g.dnsUpdateKey},
		{"nodes", g.nodes},
		{"dns", g.dns},
		{"monitoring", g.monitoring},
		{"kubeadm", g.kubeadm},
	} {
		opts.Logger.Info("generate", "step", step.name)
		if err := step.run(); err != nil {
			return nil, fmt.Errorf("generate %s: %w", step.name, err)
		}
	}
	slices.Sort(g.res.Files)
	return g.res, nil
}

type generator struct {
	c    *spec.Cluster
	opts Options
	res  *Result
	ca   caFiles
	// certs holds each member's issued files by member name.
	certs map[string]memberCerts
	// group is the autoscaling intermediate, when there is one.
	group *groupCerts
}

// write writes rel under OutDir atomically and records it.
func (g *generator) write(rel string, data []byte, mode os.FileMode) error {
	if err := atomicfile.Write(filepath.Join(g.opts.OutDir, rel), data, mode); err != nil {
		return err
	}
	g.res.Files = append(g.res.Files, rel)
	return nil
}

// tlsDir is where certificates live on a node.
func (g *generator) tlsDir() string {
	if g.c.PKI.Layout == spec.LayoutKubeadm {
		return spec.KubeadmTLSDir
	}
	return spec.DefaultTLSDir
}

// basePayload is the part of every node payload that is the same for all.
func (g *generator) basePayload() spec.NodePayload {
	c := g.c
	dir := g.tlsDir()
	return spec.NodePayload{
		APIVersion: spec.APIVersion,
		Cluster:    c.Name,
		Token:      c.Token,
		Members:    c.Members,
		Etcd:       c.Etcd,
		Discovery:  c.Discovery,
		Firewall:   c.Firewall,
		TLS: spec.NodeTLS{
			CAFile:         filepath.Join(dir, "ca.crt"),
			ServerCertFile: filepath.Join(dir, "server.crt"),
			ServerKeyFile:  filepath.Join(dir, "server.key"),
			PeerCertFile:   filepath.Join(dir, "peer.crt"),
			PeerKeyFile:    filepath.Join(dir, "peer.key"),
			MinVersion:     c.TLS.MinVersion,
		},
		Autoscaling: c.Autoscaling,
		Backup:      c.Backup,
		Recovery:    c.Recovery,
		Maintenance: c.Maintenance,
	}
}

func (g *generator) nodes() error {
	if g.c.Autoscaling != nil {
		p := g.basePayload()
		p.TLS.IssuerCertFile = filepath.Join(g.tlsDir(), "issuer.crt")
		p.TLS.IssuerKeyFile = filepath.Join(g.tlsDir(), "issuer.key")
		b := ignition.Bundle{Payload: p, Files: g.groupFiles(p.TLS)}
		n, err := g.renderNode("launch", b)
		if err != nil {
			return err
		}
		g.res.Launch = &n
		return nil
	}
	for _, m := range g.c.Members {
		p := g.basePayload()
		node := m
		p.Node = &node
		b := ignition.Bundle{Payload: p, Files: g.memberFiles(m.Name, p.TLS), Hostname: m.Name}
		n, err := g.renderNode(m.Name, b)
		if err != nil {
			return err
		}
		g.res.Nodes = append(g.res.Nodes, n)
	}
	return nil
}

// renderNode writes out/nodes/<name>/: node.yaml, hosts and each payload format.
func (g *generator) renderNode(name string, b ignition.Bundle) (Node, error) {
	rel := filepath.Join("nodes", name)
	n := Node{Name: name, Bundle: b, Dir: filepath.Join(g.opts.OutDir, rel)}
	payload, err := yaml.Marshal(b.Payload)
	if err != nil {
		return n, fmt.Errorf("node %s: encode payload: %w", name, err)
	}
	if err := g.write(filepath.Join(rel, "node.yaml"), payload, 0o644); err != nil {
		return n, err
	}
	if len(g.c.Members) > 0 {
		if err := g.write(filepath.Join(rel, "hosts"), []byte(ignition.HostsEntries(g.c.Members)), 0o644); err != nil {
			return n, err
		}
	}
	for _, format := range g.c.Payload.Formats {
		switch format {
		case spec.FormatIgnition:
			bu, err := ignition.RenderButane(b, g.c.Payload.IgnitionVariant)
			if err != nil {
				return n, fmt.Errorf("node %s: %w", name, err)
			}
			ign, err := ignition.RenderIgnition(b, g.c.Payload.IgnitionVariant)
			if err != nil {
				return n, fmt.Errorf("node %s: %w", name, err)
			}
			if err := g.write(filepath.Join(rel, "config.bu"), bu, 0o600); err != nil {
				return n, err
			}
			if err := g.write(filepath.Join(rel, "ignition.json"), ign, 0o600); err != nil {
				return n, err
			}
		case spec.FormatCloudInit:
			ud, err := ignition.RenderCloudInit(b)
			if err != nil {
				return n, fmt.Errorf("node %s: %w", name, err)
			}
			if err := g.write(filepath.Join(rel, "user-data"), ud, 0o600); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
