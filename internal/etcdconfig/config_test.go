package etcdconfig

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/spec"
)

func sampleConfig(minor int) Config {
	return Config{
		Minor: minor, Name: "etcd1", DataDir: "/var/lib/etcd",
		ListenPeerURLs: []string{"https://10.0.0.1:2380"}, ListenClientURLs: []string{"https://10.0.0.1:2379", "https://127.0.0.1:2379"},
		AdvertiseClientURLs: []string{"https://10.0.0.1:2379"}, InitialAdvertisePeerURLs: []string{"https://10.0.0.1:2380"},
		InitialCluster: "etcd1=https://10.0.0.1:2380", InitialClusterState: "new", InitialClusterToken: "tok",
		HeartbeatMs: 100, ElectionMs: 500, SnapshotCount: 5000,
		CAFile: "/p/ca.crt", CertFile: "/p/server.crt", KeyFile: "/p/server.key", PeerCertFile: "/p/peer.crt", PeerKeyFile: "/p/peer.key",
	}
}

func TestEnvFileIsTheManualProceduresFile(t *testing.T) {
	env := string(sampleConfig(6).Env())
	for _, want := range []string{
		"ETCD_NAME=etcd1\n", "ETCD_DATA_DIR=/var/lib/etcd\n", "ETCD_SNAPSHOT_COUNT=5000\n",
		"ETCD_HEARTBEAT_INTERVAL=100\n", "ETCD_ELECTION_TIMEOUT=500\n",
		"ETCD_LISTEN_CLIENT_URLS=https://10.0.0.1:2379,https://127.0.0.1:2379\n",
		"ETCD_INITIAL_CLUSTER=etcd1=https://10.0.0.1:2380\n", "ETCD_INITIAL_CLUSTER_STATE=new\n",
		"ETCD_INITIAL_CLUSTER_TOKEN=tok\n", "ETCD_CLIENT_CERT_AUTH=true\n", "ETCD_PEER_CLIENT_CERT_AUTH=true\n",
		"ETCD_TRUSTED_CA_FILE=/p/ca.crt\n", "ETCD_PEER_TRUSTED_CA_FILE=/p/ca.crt\n",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("env file lacks %q:\n%s", want, env)
		}
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(env, "\n") {
		k, _, _ := strings.Cut(line, "=")
		if k != "" && !strings.HasPrefix(k, "#") {
			if seen[k] {
				t.Errorf("%s written twice", k)
			}
			seen[k] = true
		}
	}
}

func TestSettingsFollowTheEtcdVersion(t *testing.T) {
	c := sampleConfig(5)
	c.DiscoveryToken, c.DiscoveryEndpoints = "tok", []string{"https://10.0.0.9:2379"}
	if env := string(c.Env()); strings.Contains(env, "DISCOVERY_TOKEN") {
		t.Errorf("etcd 3.5 has no v3 discovery, got:\n%s", env)
	}
	c.Minor = 6
	if env := string(c.Env()); !strings.Contains(env, "ETCD_DISCOVERY_TOKEN=tok") || !strings.Contains(env, "ETCD_DISCOVERY_INSECURE_TRANSPORT=false") {
		t.Errorf("etcd 3.6 v3 discovery settings missing:\n%s", env)
	}
	c.Minor = 8
	if env := string(c.Env()); strings.Contains(env, "SNAPSHOT_COUNT") {
		t.Errorf("snapshot-count is gone in 3.8:\n%s", env)
	}
}

func TestYAMLNestsTLSAndDiscovery(t *testing.T) {
	c := sampleConfig(6)
	c.DiscoveryToken, c.DiscoveryEndpoints = "tok", []string{"https://10.0.0.9:2379"}
	data, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	cts := doc["client-transport-security"].(map[string]any)
	if cts["cert-file"] != "/p/server.crt" || cts["client-cert-auth"] != true {
		t.Errorf("client-transport-security: %v", cts)
	}
	if doc["heartbeat-interval"] != 100 || doc["listen-client-urls"] != "https://10.0.0.1:2379,https://127.0.0.1:2379" {
		t.Errorf("top level: %v", doc)
	}
	dc := doc["discovery-config"].(map[string]any)
	if dc["token"] != "tok" {
		t.Errorf("discovery-config: %v", dc)
	}
}

// TestRealEtcdAcceptsTheYAMLConfig starts the real etcd with a rendered config
// file and no flags: unknown or misplaced keys make etcd exit at once.
func TestRealEtcdAcceptsTheYAMLConfig(t *testing.T) {
	etcd := filepath.Join(binDir(), "etcd")
	if _, err := os.Stat(etcd); err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			t.Fatal("bin/etcd missing: run make etcd")
		}
		t.Skip("bin/etcd missing: run make etcd")
	}
	dir := t.TempDir()
	c := Config{
		Minor: 6, Name: "n1", DataDir: filepath.Join(dir, "data"),
		ListenPeerURLs: []string{"http://127.0.0.1:0"}, ListenClientURLs: []string{"http://127.0.0.1:0"},
		AdvertiseClientURLs: []string{"http://127.0.0.1:2379"}, InitialAdvertisePeerURLs: []string{"http://127.0.0.1:2380"},
		InitialCluster: "n1=http://127.0.0.1:2380", InitialClusterState: "new", InitialClusterToken: "t",
		HeartbeatMs: 100, ElectionMs: 500, SnapshotCount: 5000, QuotaBackendBytes: 1 << 30,
		AutoCompactionMode: "periodic", AutoCompactionRetention: "1h",
	}
	data, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	// client-cert-auth without certificates is legal for etcd over http.
	cfgPath := filepath.Join(dir, "etcd.yaml")
	if err := os.WriteFile(cfgPath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcd)
	cmd.Env = append(os.Environ(), EnvName("config-file")+"="+cfgPath)
	out, _ := cmd.CombinedOutput()
	// etcd runs until the context ends; an invalid config ends it at once.
	if ctx.Err() == nil {
		t.Fatalf("etcd exited early with the rendered config:\n%s\n%s", data, out)
	}
	if !strings.Contains(string(out), "serving client traffic") && !strings.Contains(string(out), "ready to serve client requests") {
		t.Fatalf("etcd did not serve:\n%s", out)
	}
}

func binDir() string {
	if d := os.Getenv("ETCDBOOT_BIN"); d != "" {
		return d
	}
	d, _ := filepath.Abs("../../bin")
	return d
}

func TestInitialClusterAndURLs(t *testing.T) {
	members := []spec.Member{{Name: "b", IPs: []string{"10.0.0.2"}}, {Name: "a", IPs: []string{"10.0.0.1", "fd00::1"}}}
	got := InitialCluster(members, 2380)
	want := "a=https://10.0.0.1:2380,a=https://[fd00::1]:2380,b=https://10.0.0.2:2380"
	if got != want {
		t.Errorf("InitialCluster = %s, want %s", got, want)
	}
}

// TestTLSSettingsInBothFormats: tls-min-version is a top-level key and
// ETCD_TLS_MIN_VERSION; cipher-suites a YAML list and a comma-separated
// ETCD_CIPHER_SUITES, written only with TLS 1.2.
func TestTLSSettingsInBothFormats(t *testing.T) {
	c := sampleConfig(5)
	c.TLSMinVersion = spec.TLS13
	env := string(c.Env())
	if !strings.Contains(env, "ETCD_TLS_MIN_VERSION=TLS1.3\n") || strings.Contains(env, "CIPHER_SUITES") {
		t.Errorf("TLS 1.3 env:\n%s", env)
	}
	c.TLSMinVersion, c.CipherSuites = spec.TLS12, spec.TLS12CipherSuites
	env = string(c.Env())
	if !strings.Contains(env, "ETCD_TLS_MIN_VERSION=TLS1.2\n") || !strings.Contains(env, "ETCD_CIPHER_SUITES="+strings.Join(spec.TLS12CipherSuites, ",")+"\n") {
		t.Errorf("TLS 1.2 env:\n%s", env)
	}
	data, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		MinVersion   string   `yaml:"tls-min-version"`
		CipherSuites []string `yaml:"cipher-suites"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.MinVersion != spec.TLS12 || !slices.Equal(doc.CipherSuites, spec.TLS12CipherSuites) {
		t.Errorf("YAML: %+v\n%s", doc, data)
	}
}
