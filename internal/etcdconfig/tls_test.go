package etcdconfig

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/internal/tlstest"
	"github.com/etcdboot/etcdboot/spec"
)

// memberIP is the member's own address in these tests: Member adds
// 127.0.0.1 to the client and metrics listeners itself, and two loopback
// addresses keep the two apart.
const memberIP = "127.0.0.2"

// TestEveryEtcdReleaseServesOnlyTheTLSMinimum starts each etcd release of
// the matrix with the configuration Member renders (YAML config file and
// environment file) for tls.minVersion TLS1.3 and TLS1.2, and shakes hands
// with openssl s_client on the client, peer and metrics ports: with TLS1.3,
// a TLS 1.2-only client is refused and TLS 1.3 works; with TLS1.2 both
// work, but a TLS 1.2 client offering only CBC suites is refused.
func TestEveryEtcdReleaseServesOnlyTheTLSMinimum(t *testing.T) {
	tlstest.OpenSSL(t)
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(t), OutDir: out}); err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(out, "pki")
	cases := []struct{ min, format string }{
		{spec.TLS13, spec.ConfigYAML}, {spec.TLS13, spec.ConfigEnv},
		{spec.TLS12, spec.ConfigYAML}, {spec.TLS12, spec.ConfigEnv},
	}
	// Reserved together, so that the members started in parallel never
	// pick the same port.
	ports := etcdtest.FreePorts(t, 3*len(cases)*len(etcdtest.Versions))
	for _, version := range etcdtest.Versions {
		for _, tt := range cases {
			own := ports[:3]
			ports = ports[3:]
			t.Run(fmt.Sprintf("%s/%s/%s", version, tt.min, tt.format), func(t *testing.T) {
				t.Parallel()
				m := startMember(t, pki, version, tt.min, tt.format, own)
				admin := tlstest.Client{CAFile: filepath.Join(pki, "ca.crt"), CertFile: filepath.Join(pki, "admin.crt"), KeyFile: filepath.Join(pki, "admin.key")}
				for _, port := range []struct {
					name, addr, ip string
				}{
					{"client", fmt.Sprintf("127.0.0.1:%d", m.client), "127.0.0.1"},
					{"metrics", fmt.Sprintf("127.0.0.1:%d", m.metrics), "127.0.0.1"},
					// The peer listens on the member's address only, which
					// its certificate does not name: the chain is checked.
					{"peer", fmt.Sprintf("%s:%d", memberIP, m.peer), ""},
				} {
					c := admin
					c.VerifyIP = port.ip
					c.Version = tls.VersionTLS13
					if res, err := tlstest.Handshake(t, port.addr, c); err != nil {
						t.Errorf("%s port: TLS 1.3 client: %v", port.name, err)
					} else {
						t.Logf("%s port: TLS 1.3 client: %s %s", port.name, res.Protocol, res.Cipher)
					}
					c.Version = tls.VersionTLS12
					res, err := tlstest.Handshake(t, port.addr, c)
					switch {
					case tt.min == spec.TLS13 && tlstest.Alert(err) != "protocol version":
						t.Errorf("%s port: a TLS 1.2-only client was not refused for its version: %+v, %v", port.name, res, err)
					case tt.min == spec.TLS12 && err != nil:
						t.Errorf("%s port: TLS 1.2 allowed, but the TLS 1.2 client failed: %v", port.name, err)
					case tt.min == spec.TLS12 && !strings.Contains(res.Cipher, "GCM") && !strings.Contains(res.Cipher, "CHACHA20"):
						t.Errorf("%s port: TLS 1.2 negotiated %s, not an AEAD suite", port.name, res.Cipher)
					}
					if tt.min == spec.TLS12 {
						c.Ciphers = tlstest.WeakTLS12Ciphers
						if res, err := tlstest.Handshake(t, port.addr, c); tlstest.Alert(err) != "handshake failure" {
							t.Errorf("%s port: a TLS 1.2 client offering only CBC suites was not refused for its suites: %+v, %v", port.name, res, err)
						}
					}
				}
			})
		}
	}
}

// member is a running etcd and its ports.
type member struct {
	client, peer, metrics int
}

// startMember renders member etcd1's configuration with Member, writes it
// in format and starts etcd release version from it, with nothing else: no
// flag, no other variable. ports are its client, peer and metrics ports. It
// returns once the member answers /health.
func startMember(t *testing.T, pki, version, minVersion, format string, ports []int) member {
	t.Helper()
	minor, err := spec.EtcdMinor(version)
	if err != nil {
		t.Fatal(err)
	}
	m := member{client: ports[0], peer: ports[1], metrics: ports[2]}
	dir := t.TempDir()
	node := spec.Member{Name: "etcd1", IPs: []string{memberIP}}
	p := &spec.NodePayload{
		Token: "tls-" + strings.ReplaceAll(version, ".", "-"), Node: &node, Members: []spec.Member{node},
		Etcd:      spec.Etcd{DataDir: filepath.Join(dir, "data"), ClientPort: m.client, PeerPort: m.peer, MetricsPort: m.metrics},
		Discovery: spec.Discovery{Mode: spec.DiscoveryStatic},
		TLS: spec.NodeTLS{CAFile: filepath.Join(pki, "ca.crt"),
			ServerCertFile: filepath.Join(pki, "etcd1-server.crt"), ServerKeyFile: filepath.Join(pki, "etcd1-server.key"),
			PeerCertFile: filepath.Join(pki, "etcd1-peer.crt"), PeerKeyFile: filepath.Join(pki, "etcd1-peer.key"),
			MinVersion: minVersion},
	}
	cfg := Member(Input{Payload: p, Minor: minor, Addrs: NodeAddrs(node), Cluster: Cluster{State: "new", Peers: p.Members}})
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var rendered []byte
	if format == spec.ConfigYAML {
		if rendered, err = cfg.YAML(); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "etcd.yaml")
		if err := os.WriteFile(path, rendered, 0o600); err != nil {
			t.Fatal(err)
		}
		env = append(env, EnvName("config-file")+"="+path)
	} else {
		rendered = cfg.Env()
		for _, line := range strings.Split(string(rendered), "\n") {
			if strings.HasPrefix(line, "ETCD_") {
				env = append(env, line)
			}
		}
	}
	logPath := filepath.Join(dir, "etcd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(etcdtest.VersionBinary(t, version, "etcd"))
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd %s: %v", version, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("rendered configuration:\n%s\netcd log:\n%s", rendered, log)
		}
	})
	conf, err := tlsfiles.Files{CAFile: p.TLS.CAFile, CertFile: filepath.Join(pki, "admin.crt"), KeyFile: filepath.Join(pki, "admin.key")}.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 2 * time.Second}
	health := fmt.Sprintf("https://127.0.0.1:%d/health", m.client)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("etcd %s exited: it refused the configuration", version)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd %s never answered %s: %v", version, health, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
