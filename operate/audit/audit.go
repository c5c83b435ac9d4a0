package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"

	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/spec"
)

// Options say where the generated configuration is.
type Options struct {
	// OutDir is the generator's output: node payloads in nodes/, the CA in
	// pki/ca.crt.
	OutDir string
	// KubeCAFile is the Kubernetes cluster CA (/etc/kubernetes/pki/ca.crt)
	// for item 2.7; without it the CA's own identity is judged.
	KubeCAFile string
}

// MemberAudit is the verdict on one member's etcd configuration.
type MemberAudit struct {
	Member string `json:"member"`
	// Config is the file etcd reads on the node, as the agent writes it.
	Config   string    `json:"config"`
	Findings []Finding `json:"findings"`
}

// Report is an audit of one cluster.
type Report struct {
	Cluster string        `json:"cluster"`
	Members []MemberAudit `json:"members"`
	// CA is item 2.7, which is about the cluster's CA, not one member.
	CA Finding `json:"ca"`
}

// Counts returns how many findings have each status.
func (r Report) Counts() map[Status]int {
	n := map[Status]int{Pass: 0, Fail: 0, Warn: 0}
	for _, m := range r.Members {
		for _, f := range m.Findings {
			n[f.Status]++
		}
	}
	n[r.CA.Status]++
	return n
}

// Failed reports whether any item failed.
func (r Report) Failed() bool { return r.Counts()[Fail] > 0 }

// etcdConfigDir is where the agent writes etcd's configuration on a node.
const etcdConfigDir = etcdconfig.DefaultDir

// Audit checks the etcd configuration of every member of c as generated in
// opts.OutDir: it loads each member's payload (nodes/<name>/node.yaml, for an
// autoscaling group the launch payload with the first seed's identity),
// renders the file the agent writes from it (environment file or YAML
// config file, per etcd.configFormat), audits that file as etcd would read
// it, and checks the CA in pki/ca.crt for item 2.7.
func Audit(c *spec.Cluster, opts Options) (Report, error) {
	r := Report{Cluster: c.Name, Members: []MemberAudit{}}
	payloads, err := loadPayloads(c, opts.OutDir)
	if err != nil {
		return r, fmt.Errorf("audit cluster %s: %w", c.Name, err)
	}
	for _, p := range payloads {
		m, err := auditMember(p)
		if err != nil {
			return r, fmt.Errorf("audit cluster %s: member %s: %w", c.Name, p.Node.Name, err)
		}
		r.Members = append(r.Members, m)
	}
	r.CA = UniqueCA(filepath.Join(opts.OutDir, "pki", "ca.crt"), opts.KubeCAFile)
	return r, nil
}

// loadPayloads reads the payloads the generator wrote for c.
func loadPayloads(c *spec.Cluster, outDir string) ([]*spec.NodePayload, error) {
	load := func(name string) (*spec.NodePayload, error) {
		path := filepath.Join(outDir, "nodes", name, "node.yaml")
		p, err := spec.LoadNodePayload(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w; run etcdboot generate -f <spec> -o %s first", path, err, outDir)
		}
		return p, err
	}
	if a := c.Autoscaling; a != nil {
		p, err := load("launch")
		if err != nil {
			return nil, err
		}
		self, err := groupMember(a)
		if err != nil {
			return nil, err
		}
		p.Node = &self
		return []*spec.NodePayload{p}, nil
	}
	var out []*spec.NodePayload
	for _, m := range c.Members {
		p, err := load(m.Name)
		if err != nil {
			return nil, err
		}
		if p.Node == nil || p.Node.Name != m.Name {
			return nil, fmt.Errorf("%s: the payload is not member %s's; rerun etcdboot generate", filepath.Join(outDir, "nodes", m.Name, "node.yaml"), m.Name)
		}
		out = append(out, p)
	}
	return out, nil
}

// groupMember is the identity an autoscaling member at the group's first
// seed (or first subnet address) would derive, as the agent does.
func groupMember(a *spec.Autoscaling) (spec.Member, error) {
	var addr netip.Addr
	if len(a.Seeds) > 0 {
		addr, _ = netip.ParseAddr(a.Seeds[0])
	} else if len(a.Subnets) > 0 {
		if p, err := netip.ParsePrefix(a.Subnets[0]); err == nil {
			addr = p.Masked().Addr().Next()
		}
	}
	if !addr.IsValid() {
		return spec.Member{}, errors.New("autoscaling group has no seed or subnet to derive a member from")
	}
	return etcdconfig.GroupIdentity(a, []netip.Addr{addr})
}

// auditMember renders and audits one member's etcd configuration.
func auditMember(p *spec.NodePayload) (MemberAudit, error) {
	cfg, err := memberEtcdConfig(p)
	if err != nil {
		return MemberAudit{}, err
	}
	m := MemberAudit{Member: p.Node.Name}
	if p.Etcd.ConfigFormat == spec.ConfigYAML {
		data, err := cfg.YAML()
		if err != nil {
			return m, err
		}
		m.Config = filepath.Join(etcdConfigDir, "etcd.yaml")
		m.Findings = AuditYAML(data)
		return m, nil
	}
	m.Config = filepath.Join(etcdConfigDir, "etcd.conf")
	m.Findings = AuditEnv(cfg.Env())
	return m, nil
}

// memberEtcdConfig is the configuration the agent writes for member p.Node
// forming a new cluster from payload p: etcdconfig.Member, the agent's own
// function, with the payload's members (the member alone for a launch
// payload) as the initial cluster.
func memberEtcdConfig(p *spec.NodePayload) (etcdconfig.Config, error) {
	minor, err := spec.EtcdMinor(p.Etcd.Version)
	if err != nil {
		return etcdconfig.Config{}, fmt.Errorf("etcd.version: %w", err)
	}
	members := p.Members
	if len(members) == 0 {
		members = []spec.Member{*p.Node}
	}
	return etcdconfig.Member(etcdconfig.Input{
		Payload: p,
		Minor:   minor,
		Addrs:   etcdconfig.NodeAddrs(*p.Node),
		Cluster: etcdconfig.Cluster{State: "new", Peers: members},
	}), nil
}

// CheckSpec loads the cluster spec at specPath and audits it as Audit does.
func CheckSpec(specPath string, opts Options) (Report, error) {
	c, _, err := spec.LoadCluster(specPath)
	if err != nil {
		return Report{}, err
	}
	return Audit(c, opts)
}
