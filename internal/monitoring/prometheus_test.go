package monitoring

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/spec"
)

// writeMonitoringTree writes what the generator puts in out/monitoring for c.
func writeMonitoringTree(t *testing.T, dir string, c *spec.Cluster) []byte {
	t.Helper()
	cfg, err := PrometheusConfig(c, ConfigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := Rules(c.Name, RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"prometheus.yml": cfg,
		RulesFile:        rules,
		// promtool checks that the TLS files exist, not what they hold.
		CAFile: nil, ClientCertFile: nil, ClientKeyFile: nil,
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func TestPrometheusConfigOfExamplesPassesPromtool(t *testing.T) {
	examples, _ := filepath.Glob("../../examples/*/cluster.yaml")
	if len(examples) == 0 {
		t.Fatal("no examples")
	}
	for _, ex := range examples {
		t.Run(filepath.Base(filepath.Dir(ex)), func(t *testing.T) {
			c, _, err := spec.LoadCluster(ex)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			cfg := writeMonitoringTree(t, dir, c)
			out, err := promtool(t, dir, "check", "config", "prometheus.yml")
			if err != nil {
				t.Fatalf("promtool check config: %v\n%s\n%s", err, out, cfg)
			}
			// check config also checks the rule files it names.
			if !strings.Contains(out, RulesFile) || !strings.Contains(out, "SUCCESS: 16 rules found") {
				t.Errorf("promtool did not check %s:\n%s", RulesFile, out)
			}
		})
	}
}

// scrapeTargets returns job -> target -> labels of a rendered config.
func scrapeTargets(t *testing.T, data []byte) (map[string]map[string]map[string]string, prometheusConfig) {
	t.Helper()
	var cfg prometheusConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	jobs := map[string]map[string]map[string]string{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = map[string]map[string]string{}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				jobs[sc.JobName][target] = st.Labels
			}
		}
	}
	return jobs, cfg
}

func TestPrometheusConfigScrapesEachMemberAndAgentOnce(t *testing.T) {
	c := &spec.Cluster{Name: "lab", Members: []spec.Member{
		{Name: "etcd1", IPs: []string{"10.0.0.1", "fd00::1"}},
		{Name: "etcd2", IPs: []string{"fd00::2"}},
	}}
	c.ApplyDefaults()
	data, err := PrometheusConfig(c, ConfigOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, cfg := scrapeTargets(t, data)
	want := map[string]map[string]map[string]string{
		EtcdJob: {
			"10.0.0.1:2381":  {"cluster": "lab", "member": "etcd1"},
			"[fd00::2]:2381": {"cluster": "lab", "member": "etcd2"},
		},
		AgentJob: {
			"10.0.0.1:2382":  {"cluster": "lab", "member": "etcd1"},
			"[fd00::2]:2382": {"cluster": "lab", "member": "etcd2"},
		},
	}
	for job, targets := range want {
		for target, labels := range targets {
			got, ok := jobs[job][target]
			if !ok || got["cluster"] != labels["cluster"] || got["member"] != labels["member"] {
				t.Errorf("job %s target %s: labels %v, want %v (all: %v)", job, target, got, labels, jobs[job])
			}
		}
		if len(jobs[job]) != len(targets) {
			t.Errorf("job %s scrapes %v, want one target per member", job, jobs[job])
		}
	}
	if len(cfg.RuleFiles) != 1 || cfg.RuleFiles[0] != RulesFile {
		t.Errorf("rule_files = %v", cfg.RuleFiles)
	}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.Scheme != "https" || sc.TLSConfig.CertFile != ClientCertFile {
			t.Errorf("job %s is not scraped over mTLS: %+v", sc.JobName, sc)
		}
	}
}

func TestPrometheusConfigFollowsSRVForAutoscalingGroups(t *testing.T) {
	c := &spec.Cluster{Name: "asg", Autoscaling: &spec.Autoscaling{Size: 3, Subnets: []string{"10.0.1.0/24"}, Domain: "etcd.example.internal"}}
	c.ApplyDefaults()
	data, err := PrometheusConfig(c, ConfigOptions{AgentMetricsPort: 9181})
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, want := range []string{
		"_etcd-client-ssl._tcp.etcd.example.internal",
		"replacement: ${1}:9181",
		"replacement: asg",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("config lacks %q:\n%s", want, s)
		}
	}
}

func TestPrometheusConfigRefusesMemberWithoutAddress(t *testing.T) {
	c := &spec.Cluster{Name: "lab", Members: []spec.Member{{Name: "etcd1", IPs: []string{"not-an-ip"}}}}
	c.ApplyDefaults()
	if _, err := PrometheusConfig(c, ConfigOptions{}); err == nil || !strings.Contains(err.Error(), "etcd1") {
		t.Errorf("err = %v, want one naming etcd1", err)
	}
}
