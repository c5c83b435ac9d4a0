package status

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/pki"
)

// testCluster is real etcd processes on 127.0.0.1 with mTLS on the client
// and peer ports, certificates from a fresh pki root CA.
type testCluster struct {
	dir     string
	ca      *pki.Authority
	caFile  string
	members []*testMember
}

type testMember struct {
	name      string
	clientURL string
	peerURL   string
	logFile   string
	cmd       *exec.Cmd
	exited    chan struct{}
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeKeyPair writes <name>.crt and <name>.key into dir.
func writeKeyPair(t *testing.T, dir, name string, kp pki.KeyPair) (certFile, keyFile string) {
	t.Helper()
	return writeFile(t, filepath.Join(dir, name+".crt"), kp.CertPEM), writeFile(t, filepath.Join(dir, name+".key"), kp.KeyPEM)
}

func newRootCA(t *testing.T) *pki.Authority {
	t.Helper()
	ca, err := pki.NewRootCA("etcd", pki.KeySpec{}, time.Hour)
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	return ca
}

func issue(t *testing.T, ca *pki.Authority, req pki.Request) pki.KeyPair {
	t.Helper()
	kp, err := ca.Issue(req)
	if err != nil {
		t.Fatalf("Issue %s: %v", req.CommonName, err)
	}
	return kp
}

// errPortTaken says a member could not bind a port picked by FreePorts:
// something else took it between the pick and etcd's start.
var errPortTaken = errors.New("port taken before etcd bound it")

// startCluster starts an n-member cluster and waits until every member is
// healthy; t.Cleanup kills the members and waits for them to exit. A port
// taken in the meantime (other tests dial out from the same range) means a
// new try on new ports.
func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	bin := etcdtest.Binary(t, "etcd")
	c := &testCluster{dir: t.TempDir(), ca: newRootCA(t)}
	c.caFile = writeFile(t, filepath.Join(c.dir, "ca.crt"), c.ca.CertPEM())
	t.Cleanup(func() {
		c.stop(t)
		if t.Failed() {
			for _, m := range c.members {
				log, _ := os.ReadFile(m.logFile)
				t.Logf("etcd %s log:\n%s", m.name, tail(log, 40))
			}
		}
	})
	admin := c.clientTLS(t, pki.AdminClient)
	for attempt := 1; ; attempt++ {
		err := c.start(t, bin, n, attempt, admin)
		if err == nil {
			return c
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatalf("start %d-member etcd cluster: %v", n, err)
		}
		t.Logf("start attempt %d: %v; trying other ports", attempt, err)
		c.stop(t)
	}
}

// start runs n members on fresh ports and data directories and waits for
// each to be healthy.
func (c *testCluster) start(t *testing.T, bin string, n, attempt int, admin *tls.Config) error {
	t.Helper()
	ports := etcdtest.FreePorts(t, 2*n)
	c.members = nil
	var initial []string
	for i := range n {
		m := &testMember{
			name:      fmt.Sprintf("m%d", i),
			clientURL: fmt.Sprintf("https://127.0.0.1:%d", ports[2*i]),
			peerURL:   fmt.Sprintf("https://127.0.0.1:%d", ports[2*i+1]),
			exited:    make(chan struct{}),
		}
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peerURL)
	}
	for _, m := range c.members {
		server, peer := pki.MemberRequests(m.name, "", []net.IP{net.IPv4(127, 0, 0, 1)}, nil, pki.KeySpec{}, time.Hour)
		serverCert, serverKey := writeKeyPair(t, c.dir, m.name+"-server", issue(t, c.ca, server))
		peerCert, peerKey := writeKeyPair(t, c.dir, m.name+"-peer", issue(t, c.ca, peer))
		m.logFile = filepath.Join(c.dir, fmt.Sprintf("%s-%d.log", m.name, attempt))
		log, err := os.Create(m.logFile)
		if err != nil {
			return err
		}
		m.cmd = exec.Command(bin,
			"--name", m.name,
			"--data-dir", filepath.Join(c.dir, fmt.Sprintf("%s-%d.etcd", m.name, attempt)),
			"--listen-client-urls", m.clientURL,
			"--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL,
			"--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", "status-test",
			"--client-cert-auth",
			"--trusted-ca-file", c.caFile,
			"--cert-file", serverCert,
			"--key-file", serverKey,
			"--peer-client-cert-auth",
			"--peer-trusted-ca-file", c.caFile,
			"--peer-cert-file", peerCert,
			"--peer-key-file", peerKey,
			"--heartbeat-interval", "50",
			"--election-timeout", "500",
			"--unsafe-no-fsync",
			"--log-level", "warn",
		)
		m.cmd.Stdout, m.cmd.Stderr = log, log
		if err := m.cmd.Start(); err != nil {
			log.Close()
			return fmt.Errorf("start etcd %s: %w", m.name, err)
		}
		go func() {
			m.cmd.Wait()
			log.Close()
			close(m.exited)
		}()
	}
	for _, m := range c.members {
		if err := m.waitHealthy(admin, 20*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// stop kills every member and waits for it to exit.
func (c *testCluster) stop(t *testing.T) {
	for _, m := range c.members {
		m.kill(t)
	}
}

// clientFiles issues a client certificate named cn and returns its files.
func (c *testCluster) clientFiles(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	return writeKeyPair(t, c.dir, cn, issue(t, c.ca, pki.ClientRequest(cn, nil, pki.KeySpec{}, time.Hour)))
}

func (c *testCluster) clientTLS(t *testing.T, cn string) *tls.Config {
	t.Helper()
	kp := issue(t, c.ca, pki.ClientRequest(cn, nil, pki.KeySpec{}, time.Hour))
	cert, err := tls.X509KeyPair(kp.CertPEM, kp.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.ca.CertPEM())
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// options returns Options for every member with the client certificate cn.
func (c *testCluster) options(t *testing.T, cn string, timeout time.Duration) Options {
	t.Helper()
	certFile, keyFile := c.clientFiles(t, cn)
	return Options{Endpoints: c.endpoints(), CAFile: c.caFile, CertFile: certFile, KeyFile: keyFile, Timeout: timeout}
}

func (c *testCluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.clientURL)
	}
	return eps
}

// waitHealthy polls the member's /health, independently of the code under
// test, until it reports true.
func (m *testMember) waitHealthy(conf *tls.Config, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for time.Now().Before(deadline) {
		select {
		case <-m.exited:
			log, _ := os.ReadFile(m.logFile)
			if bytes.Contains(log, []byte("address already in use")) {
				return fmt.Errorf("etcd %s: %w", m.name, errPortTaken)
			}
			return fmt.Errorf("etcd %s exited before it was healthy: %v", m.name, m.cmd.ProcessState)
		default:
		}
		resp, err := client.Get(m.clientURL + "/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var h struct{ Health string }
			if resp.StatusCode == http.StatusOK && json.Unmarshal(body, &h) == nil && h.Health == "true" {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("etcd %s not healthy within %s; last answer: %s", m.name, timeout, last)
}

// kill sends SIGKILL and waits for the process to exit, so its ports are
// free again when kill returns.
func (m *testMember) kill(t *testing.T) {
	t.Helper()
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	select {
	case <-m.exited:
		return
	default:
	}
	_ = m.cmd.Process.Kill()
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("etcd %s did not exit within 10s of SIGKILL", m.name)
	}
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// check runs Check with a test deadline and reports how long it took.
func check(t *testing.T, opts Options) (Report, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	r, err := Check(ctx, opts)
	return r, time.Since(start), err
}
