package monitoring

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// requirePromtool returns promtool's path, failing when end-to-end tests are
// required (CI) and skipping otherwise.
func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			t.Fatal("promtool is not installed; run make deps")
		}
		t.Skip("promtool is not installed; run make deps")
	}
	return p
}

func promtool(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(requirePromtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// goldenRules is what testdata/etcd.rules.test.yml tests: the rules of
// cluster "test" with the default options.
func goldenRules(t *testing.T) []byte {
	t.Helper()
	got, err := Rules("test", RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRulesMatchGoldenFile(t *testing.T) {
	got := goldenRules(t)
	path := filepath.Join("testdata", "etcd.rules.yml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Rules differ from %s; rerun with -update and review the diff:\n%s", path, got)
	}
}

func TestRulesPassPromtoolCheck(t *testing.T) {
	for name, opts := range map[string]RuleOptions{
		"defaults": {},
		"custom":   {EtcdJob: "etcd-main", AgentJob: "agents", ScrapeInterval: 30 * time.Second, CertExpiryWarning: 240 * time.Hour, BackupMaxAge: 2 * time.Hour, LearnerStuckFor: time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			data, err := Rules("prod-1", opts)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "etcd.rules.yml"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := promtool(t, dir, "check", "rules", "etcd.rules.yml"); err != nil {
				t.Fatalf("promtool check rules: %v\n%s\n%s", err, out, data)
			}
		})
	}
}

// TestAlertsFireOnlyOnUnhealthySeries runs promtool's unit tests: each alert
// fires on synthetic series of the failure it describes and stays silent on
// healthy ones and on another cluster's.
func TestAlertsFireOnlyOnUnhealthySeries(t *testing.T) {
	dir := t.TempDir()
	writeTestTree(t, dir, goldenRules(t))
	if out, err := testRules(t, dir); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestEveryAlertIsCoveredByAFiringTest removes one alert at a time: the unit
// tests must then fail, or that alert has no test that sees it fire.
func TestEveryAlertIsCoveredByAFiringTest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs promtool once per alert")
	}
	var f ruleFile
	if err := yaml.Unmarshal(goldenRules(t), &f); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for gi, g := range f.Groups {
		for ri, r := range g.Rules {
			name := r.Alert + "/" + r.Labels["severity"]
			if seen[name] {
				t.Fatalf("alert %s appears twice with one severity", name)
			}
			seen[name] = true
			t.Run(name, func(t *testing.T) {
				mutant := cloneRules(f)
				rules := mutant.Groups[gi].Rules
				mutant.Groups[gi].Rules = append(rules[:ri:ri], rules[ri+1:]...)
				data, err := yaml.Marshal(mutant)
				if err != nil {
					t.Fatal(err)
				}
				dir := t.TempDir()
				writeTestTree(t, dir, data)
				out, err := testRules(t, dir)
				if err == nil {
					t.Fatalf("the unit tests pass without %s: no test sees it fire", name)
				}
				if !strings.Contains(out, r.Alert) {
					t.Errorf("promtool failed, but not on %s:\n%s", r.Alert, out)
				}
			})
		}
	}
}

// TestBrokenThresholdFailsUnitTests turns a threshold around: the healthy
// series must then catch the alert firing.
func TestBrokenThresholdFailsUnitTests(t *testing.T) {
	data := goldenRules(t)
	broken := regexp.MustCompile(`(etcd_server_has_leader\{[^}]*\}) == 0`).ReplaceAll(data, []byte("$1 == 1"))
	if bytes.Equal(broken, data) {
		t.Fatal("etcdNoLeader's expression changed; update this test")
	}
	dir := t.TempDir()
	writeTestTree(t, dir, broken)
	out, err := testRules(t, dir)
	if err == nil || !strings.Contains(out, "etcdNoLeader") {
		t.Fatalf("promtool test rules passes with etcdNoLeader inverted: %v\n%s", err, out)
	}
}

func cloneRules(f ruleFile) ruleFile {
	c := ruleFile{Groups: make([]ruleGroup, len(f.Groups))}
	for i, g := range f.Groups {
		c.Groups[i] = ruleGroup{Name: g.Name, Rules: append([]alertRule(nil), g.Rules...)}
	}
	return c
}

// unitTestFiles are promtool's unit tests of the rules, under testdata/.
var unitTestFiles = []string{"etcd.rules.test.yml", "etcdboot.backup.test.yml", "etcdboot.maintenance.test.yml", "etcdboot.issuer.test.yml"}

// testRules runs promtool test rules on the unit tests.
func testRules(t *testing.T, dir string) (string, error) {
	t.Helper()
	return promtool(t, dir, append([]string{"test", "rules"}, unitTestFiles...)...)
}

// writeTestTree puts rules next to copies of the unit test files.
func writeTestTree(t *testing.T, dir string, rules []byte) {
	t.Helper()
	files := map[string][]byte{"etcd.rules.yml": rules}
	for _, name := range unitTestFiles {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRulesRefuseBadOptions(t *testing.T) {
	for name, opts := range map[string]RuleOptions{
		"negative":      {BackupMaxAge: -time.Hour},
		"sub-second":    {CertExpiryWarning: 1500 * time.Millisecond},
		"bad interval":  {ScrapeInterval: -time.Second},
		"learner stuck": {LearnerStuckFor: -1},
	} {
		if _, err := Rules("test", opts); err == nil {
			t.Errorf("%s: Rules(%+v) succeeded", name, opts)
		}
	}
}

func TestRulesWithoutClusterSelectOnJobOnly(t *testing.T) {
	data, err := Rules("", RuleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "cluster=") {
		t.Errorf("rules for no cluster select on a cluster label:\n%s", data)
	}
	if !strings.Contains(string(data), `etcd_server_has_leader{job="etcd"} == 0`) {
		t.Errorf("etcdNoLeader does not select the etcd job:\n%s", data)
	}
}

func TestCertificateWarningFitsShortLivedCertificates(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    spec.Cluster
		want time.Duration
	}{
		{"defaults: five years", spec.Cluster{Name: "a", Members: []spec.Member{{Name: "m", IPs: []string{"10.0.0.1"}}}}, 30 * 24 * time.Hour},
		{"autoscaling: 30-day intermediate", spec.Cluster{Name: "b", Autoscaling: &spec.Autoscaling{Size: 3}}, 10 * 24 * time.Hour},
		{"short pki.expiry", spec.Cluster{Name: "c", PKI: spec.PKI{Expiry: spec.Duration(720 * time.Hour)}}, 240 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.ApplyDefaults()
			if got := RuleOptionsFor(&c).CertExpiryWarning; got != tc.want {
				t.Errorf("CertExpiryWarning = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestBackupAgeFollowsTheSchedule(t *testing.T) {
	members := []spec.Member{{Name: "m", IPs: []string{"10.0.0.1"}}}
	for _, tc := range []struct {
		name   string
		backup *spec.Backup
		want   time.Duration
	}{
		{"no backup section: a daily backup may be an hour late", nil, 25 * time.Hour},
		{"hourly", &spec.Backup{}, 3 * time.Hour},
		{"weekly", &spec.Backup{Interval: spec.Duration(7 * 24 * time.Hour)}, 337 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := spec.Cluster{Name: "a", Members: members, Backup: tc.backup}
			c.ApplyDefaults()
			if got := RuleOptionsFor(&c).BackupMaxAge; got != tc.want {
				t.Errorf("BackupMaxAge = %s, want %s", got, tc.want)
			}
		})
	}
}
