package etcdconfig

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is one member's etcd settings, independent of how they are
// written down. Zero values are left out, so etcd uses its own defaults.
type Config struct {
	// Minor is the etcd 3.x minor version; it decides which settings exist.
	Minor int

	Name                     string
	DataDir                  string
	ListenPeerURLs           []string
	ListenClientURLs         []string
	ListenMetricsURLs        []string
	AdvertiseClientURLs      []string
	InitialAdvertisePeerURLs []string
	InitialCluster           string
	InitialClusterState      string
	InitialClusterToken      string
	DiscoverySRV             string
	DiscoveryToken           string
	DiscoveryEndpoints       []string

	HeartbeatMs             int64
	ElectionMs              int64
	SnapshotCount           uint64
	QuotaBackendBytes       int64
	AutoCompactionMode      string
	AutoCompactionRetention string

	CAFile       string
	CertFile     string
	KeyFile      string
	PeerCertFile string
	PeerKeyFile  string
	// TLSMinVersion is --tls-min-version ("TLS1.3" or "TLS1.2"): etcd
	// applies it to the client, peer and metrics listeners alike.
	TLSMinVersion string
	// CipherSuites is --cipher-suites, set only with TLS 1.2: etcd refuses
	// a list when the minimum is TLS 1.3, whose suites Go fixes.
	CipherSuites []string
}

// setting is one etcd flag and its value.
type setting struct {
	flag  string
	value any
}

// settings lists the flags to write, in a stable order, for c.Minor: a
// setting a version does not have is never written, because etcd refuses
// unknown flags, config keys and ETCD_ variables alike.
func (c Config) settings() []setting {
	var s []setting
	add := func(flag string, v any) {
		switch x := v.(type) {
		case string:
			if x == "" {
				return
			}
		case []string:
			if len(x) == 0 {
				return
			}
		case int64:
			if x == 0 {
				return
			}
		case uint64:
			if x == 0 {
				return
			}
		}
		s = append(s, setting{flag, v})
	}
	add("name", c.Name)
	add("data-dir", c.DataDir)
	add("listen-peer-urls", c.ListenPeerURLs)
	add("listen-client-urls", c.ListenClientURLs)
	add("listen-metrics-urls", c.ListenMetricsURLs)
	add("advertise-client-urls", c.AdvertiseClientURLs)
	add("initial-advertise-peer-urls", c.InitialAdvertisePeerURLs)
	add("initial-cluster", c.InitialCluster)
	add("initial-cluster-state", c.InitialClusterState)
	add("initial-cluster-token", c.InitialClusterToken)
	add("discovery-srv", c.DiscoverySRV)
	if c.Minor >= 6 { // v3 discovery arrived in 3.6
		add("discovery-token", c.DiscoveryToken)
		add("discovery-endpoints", c.DiscoveryEndpoints)
		if c.DiscoveryToken != "" {
			add("discovery-insecure-transport", false)
			add("discovery-cert", c.CertFile)
			add("discovery-key", c.KeyFile)
			add("discovery-cacert", c.CAFile)
		}
	}
	add("heartbeat-interval", c.HeartbeatMs)
	add("election-timeout", c.ElectionMs)
	if c.Minor < 8 { // deprecated in 3.6, decommissioned in 3.8
		add("snapshot-count", c.SnapshotCount)
	}
	add("quota-backend-bytes", c.QuotaBackendBytes)
	// A member being defragmented reports NOT_SERVING on etcd's gRPC health
	// service, so clients that check health send their requests to the
	// other members meanwhile (README: Maintenance). Alpha behind a gate
	// from 3.6 on, an experimental flag in 3.5.
	if c.Minor >= 6 {
		add("feature-gates", "StopGRPCServiceOnDefrag=true")
	} else {
		add("experimental-stop-grpc-service-on-defrag", true)
	}
	add("auto-compaction-mode", c.AutoCompactionMode)
	add("auto-compaction-retention", c.AutoCompactionRetention)
	add("cert-file", c.CertFile)
	add("key-file", c.KeyFile)
	add("trusted-ca-file", c.CAFile)
	add("client-cert-auth", true)
	add("peer-cert-file", c.PeerCertFile)
	add("peer-key-file", c.PeerKeyFile)
	add("peer-trusted-ca-file", c.CAFile)
	add("peer-client-cert-auth", true)
	// Every supported release has both (3.5 from 3.5.8 on, which spec
	// validation asks for).
	add("tls-min-version", c.TLSMinVersion)
	add("cipher-suites", c.CipherSuites)
	add("logger", "zap")
	return s
}

// Env renders the classic /etc/etcd/etcd.conf environment file: one
// ETCD_<FLAG> line per setting. etcd is then started with no flags at all.
func (c Config) Env() []byte {
	var b bytes.Buffer
	b.WriteString("# Written by etcdboot-agent; changes are overwritten at the next boot.\n")
	for _, st := range c.settings() {
		fmt.Fprintf(&b, "%s=%s\n", EnvName(st.flag), flagValue(st.value))
	}
	return b.Bytes()
}

// EnvName is the environment variable etcd reads for a flag.
func EnvName(flag string) string {
	return "ETCD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func flagValue(v any) string {
	switch x := v.(type) {
	case []string:
		return strings.Join(x, ",")
	case bool:
		return strconv.FormatBool(x)
	default:
		return fmt.Sprint(x)
	}
}

// yamlPath is where a flag lives in etcd's YAML config file, when that is not
// a top-level key of the same name.
var yamlPath = map[string][]string{
	"cert-file":                    {"client-transport-security", "cert-file"},
	"key-file":                     {"client-transport-security", "key-file"},
	"trusted-ca-file":              {"client-transport-security", "trusted-ca-file"},
	"client-cert-auth":             {"client-transport-security", "client-cert-auth"},
	"peer-cert-file":               {"peer-transport-security", "cert-file"},
	"peer-key-file":                {"peer-transport-security", "key-file"},
	"peer-trusted-ca-file":         {"peer-transport-security", "trusted-ca-file"},
	"peer-client-cert-auth":        {"peer-transport-security", "client-cert-auth"},
	"discovery-token":              {"discovery-config", "token"},
	"discovery-endpoints":          {"discovery-config", "client", "endpoints"},
	"discovery-insecure-transport": {"discovery-config", "client", "secure", "insecure-transport"},
	"discovery-cert":               {"discovery-config", "client", "secure", "cert"},
	"discovery-key":                {"discovery-config", "client", "secure", "key"},
	"discovery-cacert":             {"discovery-config", "client", "secure", "cacert"},
}

// yamlAsString lists flags etcd's YAML config reads as comma-separated strings.
var yamlAsString = map[string]bool{
	"listen-peer-urls": true, "listen-client-urls": true, "listen-metrics-urls": true,
	"advertise-client-urls": true, "initial-advertise-peer-urls": true,
}

// YAML renders the settings as an etcd --config-file document.
func (c Config) YAML() ([]byte, error) {
	root := map[string]any{}
	for _, st := range c.settings() {
		path, ok := yamlPath[st.flag]
		if !ok {
			path = []string{st.flag}
		}
		v := st.value
		if yamlAsString[st.flag] {
			v = flagValue(v)
		}
		m := root
		for _, k := range path[:len(path)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		m[path[len(path)-1]] = v
	}
	var b bytes.Buffer
	b.WriteString("# Written by etcdboot-agent; changes are overwritten at the next boot.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("render etcd config: %w", err)
	}
	return b.Bytes(), nil
}
