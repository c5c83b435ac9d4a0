package generate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// ZoneTTL is the TTL of the generated SRV and address records.
const ZoneTTL = 300

// ZonePath is where the generator writes the zone of domain.
func ZonePath(outDir, domain string) string {
	return filepath.Join(outDir, "dns", domain+".zone")
}

// dns writes out/dns/<domain>.zone when members find each other over DNS. The
// SOA serial only moves when the records change, so reruns rewrite nothing.
func (g *generator) dns() error {
	d := g.c.Discovery.DNS
	if g.c.Discovery.Mode != spec.DiscoveryDNS || d == nil {
		return nil
	}
	var targets []discovery.Target
	if !d.Register {
		// With registration members add their own records at boot.
		for _, m := range g.c.Members {
			targets = append(targets, discovery.TargetFor(m, d.Domain))
		}
	}
	rrs := discovery.Records(d.Domain, targets, uint16(g.c.Etcd.PeerPort), uint16(g.c.Etcd.ClientPort), ZoneTTL)
	opts := discovery.DefaultZoneOptions(d.Domain)
	if ns, err := netip.ParseAddr(d.Nameserver); err == nil {
		opts.NameserverAddrs = []netip.Addr{ns}
	} else if ap, err := netip.ParseAddrPort(d.Server); err == nil {
		opts.NameserverAddrs = []netip.Addr{ap.Addr()}
	}
	path := ZonePath(g.opts.OutDir, d.Domain)
	serial := uint32(1)
	old, err := os.ReadFile(path)
	if err == nil {
		if z, perr := discovery.ParseZone(bytes.NewReader(old), d.Domain, path); perr == nil && z.Serial() > 0 {
			serial = z.Serial()
		}
	}
	render := func(serial uint32) ([]byte, error) {
		var b bytes.Buffer
		err := discovery.WriteZone(&b, d.Domain, rrs, serial, opts)
		return b.Bytes(), err
	}
	zone, err := render(serial)
	if err != nil {
		return err
	}
	if old != nil && !bytes.Equal(old, zone) {
		if zone, err = render(serial + 1); err != nil {
			return err
		}
	}
	return g.write(filepath.Join("dns", d.Domain+".zone"), zone, 0o644)
}

// pkiCopy copies a file of out/pki (src) to dst under another output dir.
type pkiCopy struct{ src, dst string }

// copyPKI copies files from out/pki under dir; keys stay 0600. ca.crt is
// the CA's trust (pki.Authority.TrustPEM), as in the payloads: during a CA
// rotation both roots without the cross-certificate.
func (g *generator) copyPKI(dir string, files []pkiCopy) error {
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(g.pkiDir().Path, f.src))
		if err != nil {
			return err
		}
		if f.src == "ca.crt" {
			data = g.ca.authority.TrustPEM()
		}
		mode := os.FileMode(0o644)
		if filepath.Ext(f.dst) == ".key" {
			mode = 0o600
		}
		if err := g.write(filepath.Join(dir, f.dst), data, mode); err != nil {
			return err
		}
	}
	return nil
}

// monitoringTLS are the files Prometheus scrapes with, next to its config.
var monitoringTLS = []pkiCopy{
	{"ca.crt", monitoring.CAFile},
	{pki.HealthcheckClient + ".crt", monitoring.ClientCertFile},
	{pki.HealthcheckClient + ".key", monitoring.ClientKeyFile},
}

// monitoring writes out/monitoring/: prometheus.yml (a TLS scrape of every
// member's metrics URL and of the agents, with the healthcheck client
// certificate) and the alert rules.
func (g *generator) monitoring() error {
	if err := g.copyPKI("monitoring", monitoringTLS); err != nil {
		return err
	}
	rules, err := monitoring.Rules(g.c.Name, monitoring.RuleOptionsFor(g.c))
	if err != nil {
		return err
	}
	if err := g.write(filepath.Join("monitoring", monitoring.RulesFile), rules, 0o644); err != nil {
		return err
	}
	cfg, err := monitoring.PrometheusConfig(g.c, monitoring.ConfigOptions{})
	if err != nil {
		return err
	}
	return g.write(filepath.Join("monitoring", "prometheus.yml"), cfg, 0o644)
}

// kubeadm writes the etcd.external stanza of kubeadm's ClusterConfiguration
// and the kube-apiserver's client certificate beside it.
func (g *generator) kubeadm() error {
	if len(g.c.Members) == 0 {
		return nil
	}
	if err := g.copyPKI("kubeadm", []pkiCopy{
		{"ca.crt", "pki/etcd/ca.crt"},
		{pki.APIServerClient + ".crt", "pki/apiserver-etcd-client.crt"},
		{pki.APIServerClient + ".key", "pki/apiserver-etcd-client.key"},
	}); err != nil {
		return err
	}
	cfg := map[string]any{
		"apiVersion": "kubeadm.k8s.io/v1beta4",
		"kind":       "ClusterConfiguration",
		"etcd": map[string]any{
			"external": map[string]any{
				"endpoints": g.clientEndpoints(),
				"caFile":    "/etc/kubernetes/pki/etcd/ca.crt",
				"certFile":  "/etc/kubernetes/pki/apiserver-etcd-client.crt",
				"keyFile":   "/etc/kubernetes/pki/apiserver-etcd-client.key",
			},
		},
	}
	head := "# kubeadm ClusterConfiguration for an external etcd (cluster " + g.c.Name + ").\n" +
		"# Copy kubeadm/pki/ to /etc/kubernetes/pki/ on every control-plane node.\n"
	data, err := marshalYAML(head, cfg)
	if err != nil {
		return err
	}
	return g.write(filepath.Join("kubeadm", "etcd-external.yaml"), data, 0o644)
}

func marshalYAML(head string, v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(head)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	return b.Bytes(), nil
}

// Summary is a short human description of a result, for the CLI.
func (r *Result) Summary() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "cluster %s: %d members, discovery %s, etcd %s\n", r.Cluster.Name, r.Cluster.Size(), r.Cluster.Discovery.Mode, r.Cluster.Etcd.Version)
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, "  node %-12s %s\n", n.Name, n.Dir)
	}
	if r.Launch != nil {
		fmt.Fprintf(&b, "  launch payload  %s\n", r.Launch.Dir)
	}
	fmt.Fprintf(&b, "%s files written\n", strconv.Itoa(len(r.Files)))
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "%s\n", w)
	}
	return b.String()
}

// discoveryToken gives etcd v3 discovery a token when the spec names none: a
// random one, kept in out/discovery/etcd-token so reruns reuse it. It must
// still be created on the discovery cluster (etcdboot discovery new).
func (g *generator) discoveryToken() error {
	d := g.c.Discovery.Etcd
	if g.c.Discovery.Mode != spec.DiscoveryEtcd || d == nil {
		return nil
	}
	if d.Token != "" {
		return g.createDiscoveryToken()
	}
	rel := filepath.Join("discovery", "etcd-token")
	if data, err := os.ReadFile(filepath.Join(g.opts.OutDir, rel)); err == nil && !g.opts.Rotate {
		d.Token = strings.TrimSpace(string(data))
	} else {
		var b [12]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		d.Token = g.c.Name + "-" + hex.EncodeToString(b[:])
	}
	if err := g.write(rel, []byte(d.Token+"\n"), 0o600); err != nil {
		return err
	}
	return g.createDiscoveryToken()
}

// createDiscoveryToken registers the token and the cluster size on the
// discovery cluster when asked to; it is idempotent for the same size.
func (g *generator) createDiscoveryToken() error {
	d := g.c.Discovery.Etcd
	if g.opts.CreateDiscoveryToken == nil || d == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dc := discovery.TokenCluster{Endpoints: d.Endpoints, TLS: *g.opts.CreateDiscoveryToken}
	if err := discovery.CreateToken(ctx, dc, d.Token, g.c.Size()); err != nil {
		return fmt.Errorf("create discovery token %s: %w", d.Token, err)
	}
	g.opts.Logger.Info("discovery token created", "token", d.Token, "size", g.c.Size())
	return nil
}

// dnsUpdateKey gives registering members a TSIG key: the spec's own, or one
// generated once and kept in out/dns/tsig.yaml (and tsig.conf for BIND).
func (g *generator) dnsUpdateKey() error {
	d := g.c.Discovery.DNS
	if g.c.Discovery.Mode != spec.DiscoveryDNS || d == nil || !d.Register || d.UpdateKey != nil {
		return nil
	}
	rel := filepath.Join("dns", "tsig.yaml")
	var key spec.TSIGKey
	if data, err := os.ReadFile(filepath.Join(g.opts.OutDir, rel)); err == nil && !g.opts.Rotate {
		if err := yaml.Unmarshal(data, &key); err != nil || key.Secret == "" {
			return fmt.Errorf("%s: not a TSIG key (%v); delete it or pass --rotate", filepath.Join(g.opts.OutDir, rel), err)
		}
	} else {
		k, err := discovery.NewTSIGKey("etcdboot-update." + d.Domain)
		if err != nil {
			return err
		}
		key = k
	}
	d.UpdateKey = &key
	data, err := yaml.Marshal(key)
	if err != nil {
		return err
	}
	if err := g.write(rel, data, 0o600); err != nil {
		return err
	}
	bind := fmt.Sprintf("key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n", key.Name, key.Algorithm, key.Secret)
	return g.write(filepath.Join("dns", "tsig.conf"), []byte(bind), 0o600)
}

// TSIGKeyPath is where the generator keeps the DNS update key.
func TSIGKeyPath(outDir string) string { return filepath.Join(outDir, "dns", "tsig.yaml") }
