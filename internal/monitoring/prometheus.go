package monitoring

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/spec"
)

// DefaultAgentMetricsPort is where etcdboot-agent serves /metrics over TLS:
// next to etcd's own client, peer and metrics ports (2379-2381).
const DefaultAgentMetricsPort = 2382

// DefaultScrapeInterval is Prometheus' scrape and rule evaluation interval.
const DefaultScrapeInterval = 15 * time.Second

// Paths PrometheusConfig refers to, relative to the directory of
// prometheus.yml (out/monitoring): the generator writes these files there.
const (
	// RulesFile is the alert rules file Rules renders.
	RulesFile = "rules/etcd.rules.yml"
	// CAFile verifies the members' and agents' serving certificates.
	CAFile = "tls/ca.crt"
	// ClientCertFile and ClientKeyFile are the healthcheck client
	// certificate Prometheus presents: etcd and the agent require one.
	ClientCertFile = "tls/client.crt"
	ClientKeyFile  = "tls/client.key"
)

// ConfigOptions tune PrometheusConfig; a zero field takes its default.
type ConfigOptions struct {
	// ScrapeInterval defaults to DefaultScrapeInterval.
	ScrapeInterval time.Duration
	// AgentMetricsPort defaults to DefaultAgentMetricsPort.
	AgentMetricsPort int
}

// prometheusConfig is the part of Prometheus' configuration file we write.
type prometheusConfig struct {
	Global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		EvaluationInterval string `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type scrapeConfig struct {
	JobName        string          `yaml:"job_name"`
	Scheme         string          `yaml:"scheme"`
	TLSConfig      tlsConfig       `yaml:"tls_config"`
	StaticConfigs  []staticConfig  `yaml:"static_configs,omitempty"`
	DNSSDConfigs   []dnsSDConfig   `yaml:"dns_sd_configs,omitempty"`
	RelabelConfigs []relabelConfig `yaml:"relabel_configs,omitempty"`
}

type tlsConfig struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

type staticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

type dnsSDConfig struct {
	Names []string `yaml:"names"`
}

type relabelConfig struct {
	SourceLabels []string `yaml:"source_labels,omitempty"`
	Regex        string   `yaml:"regex,omitempty"`
	TargetLabel  string   `yaml:"target_label"`
	Replacement  string   `yaml:"replacement"`
}

// PrometheusConfig renders prometheus.yml for c: job EtcdJob scrapes every
// member's etcd metrics URL, job AgentJob every member's agent, both over
// mTLS with the files at CAFile, ClientCertFile and ClientKeyFile, and
// RulesFile is loaded. Each target is labelled cluster=<name> and, for known
// members, member=<name>; only a member's first IP is scraped, so that the
// quorum arithmetic of the rules counts members, not addresses. An
// autoscaling group's members are unknown here: both jobs follow the group's
// _etcd-client-ssl._tcp SRV records instead.
func PrometheusConfig(c *spec.Cluster, opts ConfigOptions) ([]byte, error) {
	if opts.ScrapeInterval == 0 {
		opts.ScrapeInterval = DefaultScrapeInterval
	}
	if opts.AgentMetricsPort == 0 {
		opts.AgentMetricsPort = DefaultAgentMetricsPort
	}
	if opts.ScrapeInterval < time.Second || opts.AgentMetricsPort < 1 || opts.AgentMetricsPort > 65535 {
		return nil, fmt.Errorf("prometheus config for cluster %q: scrape interval %s or agent port %d out of range", c.Name, opts.ScrapeInterval, opts.AgentMetricsPort)
	}
	tls := tlsConfig{CAFile: CAFile, CertFile: ClientCertFile, KeyFile: ClientKeyFile}
	etcd := scrapeConfig{JobName: EtcdJob, Scheme: "https", TLSConfig: tls}
	agent := scrapeConfig{JobName: AgentJob, Scheme: "https", TLSConfig: tls}
	clusterLabel := relabelConfig{TargetLabel: "cluster", Replacement: c.Name}
	if a := c.Autoscaling; a != nil {
		sd := []dnsSDConfig{{Names: []string{discovery.SRVName(discovery.ClientService, a.Domain)}}}
		etcd.DNSSDConfigs, agent.DNSSDConfigs = sd, sd
		etcd.RelabelConfigs = []relabelConfig{clusterLabel}
		// The SRV records name the client port; the agent listens beside it.
		agent.RelabelConfigs = []relabelConfig{
			{SourceLabels: []string{"__address__"}, Regex: `(.+):\d+`, TargetLabel: "__address__", Replacement: "${1}:" + strconv.Itoa(opts.AgentMetricsPort)},
			clusterLabel,
		}
	} else {
		for _, m := range c.Members {
			ip, err := firstIP(m)
			if err != nil {
				return nil, fmt.Errorf("prometheus config for cluster %q: %w", c.Name, err)
			}
			labels := map[string]string{"cluster": c.Name, "member": m.Name}
			etcd.StaticConfigs = append(etcd.StaticConfigs, staticConfig{
				Targets: []string{netip.AddrPortFrom(ip, uint16(c.Etcd.MetricsPort)).String()}, Labels: labels,
			})
			agent.StaticConfigs = append(agent.StaticConfigs, staticConfig{
				Targets: []string{netip.AddrPortFrom(ip, uint16(opts.AgentMetricsPort)).String()}, Labels: labels,
			})
		}
	}
	var cfg prometheusConfig
	cfg.Global.ScrapeInterval = promDuration(opts.ScrapeInterval)
	cfg.Global.EvaluationInterval = promDuration(opts.ScrapeInterval)
	cfg.RuleFiles = []string{RulesFile}
	cfg.ScrapeConfigs = []scrapeConfig{etcd, agent}

	var b bytes.Buffer
	b.WriteString("# Prometheus configuration for etcd cluster " + c.Name + ", written by etcdboot.\n")
	b.WriteString("# Check with `promtool check config prometheus.yml`.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return nil, fmt.Errorf("prometheus config for cluster %q: %w", c.Name, err)
	}
	return b.Bytes(), nil
}

// firstIP is the address a member is scraped at.
func firstIP(m spec.Member) (netip.Addr, error) {
	if len(m.IPs) == 0 {
		return netip.Addr{}, fmt.Errorf("member %s has no IP to scrape", m.Name)
	}
	ip, err := netip.ParseAddr(m.IPs[0])
	if err != nil {
		return netip.Addr{}, fmt.Errorf("member %s: %q is not an IP address", m.Name, m.IPs[0])
	}
	return ip, nil
}
