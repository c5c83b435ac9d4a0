package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/monitoring"
)

// requireTool returns the path of an installed program, failing when
// end-to-end tests are required (CI) and skipping otherwise.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " is not installed: run make deps"
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// startPrometheus runs the real Prometheus in the root namespace (10.123.0.1,
// inside the lab's monitoring CIDR) with config, its API on loopback, until
// the test ends. It returns the API's base URL.
func startPrometheus(t *testing.T, config string) string {
	t.Helper()
	bin := requireTool(t, "prometheus")
	listen := freeLoopback(t)
	logPath := filepath.Join(t.TempDir(), "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file", config,
		"--storage.tsdb.path", t.TempDir(),
		"--web.listen-address", listen,
		"--log.level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Dies with the test binary, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("--- prometheus log:\n%s", tail(string(data), 30))
		}
	})
	base := "http://" + listen
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready on %s within 60s: %v", listen, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// promAPI GETs a Prometheus API path and decodes its data field into v.
func promAPI(base, path string, v any) error {
	resp, err := http.Get(base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("GET %s: %s: %w", path, resp.Status, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("GET %s: %s: %s", path, env.Status, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

type promTarget struct {
	Labels    map[string]string `json:"labels"`
	ScrapeURL string            `json:"scrapeUrl"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

// promQuery runs an instant query and returns each series' labels and value.
func promQuery(base, query string) (map[string]string, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := promAPI(base, "/api/v1/query?query="+url.QueryEscape(query), &data); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, r := range data.Result {
		v, _ := r.Value[1].(string)
		out[r.Metric["job"]+"/"+r.Metric["member"]] = v
	}
	return out, nil
}

// TestPrometheusScrapesEveryMemberAndAgent runs the real Prometheus with the
// generator's out/monitoring/prometheus.yml, unchanged: it scrapes every
// member's etcd metrics (2381) and every agent's (2382) over mTLS with the
// healthcheck client certificate beside the config, through the members'
// firewalls, and loads the alert rules.
func TestPrometheusScrapesEveryMemberAndAgent(t *testing.T) {
	requireTool(t, "prometheus")
	c := newCluster(t, testcluster.Options{Members: 3})
	startHealthy(t, c)
	config := filepath.Join(c.Out, "monitoring", "prometheus.yml")
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		for _, port := range []string{"2381", "2382"} {
			if target := n.Addr.String() + ":" + port; !strings.Contains(string(data), target) {
				t.Fatalf("generated prometheus.yml does not scrape %s (%s):\n%s", target, n.Name, data)
			}
		}
	}
	base := startPrometheus(t, config)

	// Every target up; otherwise each target's lastError.
	want := 2 * len(c.Nodes)
	var targets []promTarget
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var data struct {
			ActiveTargets []promTarget `json:"activeTargets"`
		}
		err := promAPI(base, "/api/v1/targets?state=active", &data)
		targets = data.ActiveTargets
		up := 0
		for _, tg := range targets {
			if tg.Health == "up" {
				up++
			}
		}
		if err == nil && len(targets) == want && up == want {
			break
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, tg := range targets {
				fmt.Fprintf(&b, "\n  %s %s: %s %q", tg.Labels["job"], tg.ScrapeURL, tg.Health, tg.LastError)
			}
			t.Fatalf("want %d targets up within 2m, have %d of %d up (API error: %v):%s", want, up, len(targets), err, b.String())
		}
		time.Sleep(time.Second)
	}
	var urls []string
	for _, tg := range targets {
		urls = append(urls, tg.Labels["job"]+" "+tg.ScrapeURL)
	}
	sort.Strings(urls)
	t.Logf("targets up:\n  %s", strings.Join(urls, "\n  "))

	// The samples arrived: up, an etcd metric and an agent metric per member.
	for _, q := range []struct {
		query string
		jobs  []string
	}{
		{"up", []string{monitoring.EtcdJob, monitoring.AgentJob}},
		{"etcd_server_has_leader", []string{monitoring.EtcdJob}},
		{`etcdboot_agent_phase{phase="ready"}`, []string{monitoring.AgentJob}},
	} {
		got, err := promQuery(base, q.query)
		if err != nil {
			t.Fatalf("query %s: %v", q.query, err)
		}
		wantSeries := map[string]string{}
		for _, job := range q.jobs {
			for _, n := range c.Nodes {
				wantSeries[job+"/"+n.Name] = "1"
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(wantSeries) {
			t.Errorf("query %s = %v, want %v", q.query, got, wantSeries)
		}
	}

	// The generated alert rules loaded and evaluate without errors.
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := promAPI(base, "/api/v1/rules", &rules); err != nil {
		t.Fatal(err)
	}
	nrules := 0
	var errs []error
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			nrules++
			if r.Health == "err" {
				errs = append(errs, fmt.Errorf("rule %s/%s: %s", g.Name, r.Name, r.LastError))
			}
		}
	}
	if nrules == 0 {
		t.Error("prometheus loaded no rules from the generated rule file")
	}
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
}
