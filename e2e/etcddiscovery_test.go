package e2e

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

const discoAddr = "10.123.0.3"

// discoveryCluster runs a 1-member etcd in its own namespace, serving TLS
// with a certificate from the cluster's CA (in out/pki), as the discovery
// service of etcd v3 discovery.
func discoveryCluster(t testing.TB, lab *netlab.Lab, bin, out string) (*netlab.Host, string) {
	t.Helper()
	h, err := lab.AddHost("disco", netip.MustParseAddr(discoAddr))
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := os.ReadFile(filepath.Join(out, "pki", "ca.crt"))
	caKey, _ := os.ReadFile(filepath.Join(out, "pki", "ca.key"))
	ca, err := pki.LoadAuthority(caCert, caKey)
	if err != nil {
		t.Fatal(err)
	}
	server, _ := pki.MemberRequests("disco", "", []net.IP{net.ParseIP(discoAddr)}, nil, pki.DefaultKeySpec(), 24*time.Hour)
	kp, err := ca.Issue(server)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{"ca.crt": caCert, "server.crt": kp.CertPEM, "server.key": kp.KeyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	url := "https://" + discoAddr + ":2379"
	p, err := h.Start("discovery-etcd", []string{filepath.Join(bin, "etcd"), "--name", "disco", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", url, "--advertise-client-urls", url,
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "disco=http://127.0.0.1:2380",
		"--cert-file", filepath.Join(dir, "server.crt"), "--key-file", filepath.Join(dir, "server.key"),
		"--trusted-ca-file", filepath.Join(dir, "ca.crt"), "--client-cert-auth"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tlsConf, err := (tlsfiles.Files{CAFile: filepath.Join(out, "pki", "ca.crt"), CertFile: filepath.Join(out, "pki", "admin.crt"), KeyFile: filepath.Join(out, "pki", "admin.key")}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bootstrap.WaitReady(ctx, bootstrap.HealthURL(url, 6), tlsConf, 30*time.Second); err != nil {
		t.Fatalf("discovery etcd: %v\n%s", err, p.Tail(20))
	}
	return h, url
}

func TestEtcdV3Discovery(t *testing.T) {
	bin := binDir(t)
	lab := newLab(t)
	work := t.TempDir()
	token := "e2e-disco-token"
	endpoints := []string{"https://" + discoAddr + ":2379"}
	c, err := testcluster.New(lab, testcluster.Options{Members: 3, Bin: bin, WorkDir: work, Discovery: spec.DiscoveryEtcd,
		EtcdDiscovery: &spec.EtcdDiscovery{Endpoints: endpoints, Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	_, url := discoveryCluster(t, lab, bin, c.Out)
	admin := c.AdminTLS()
	ctl := func(args ...string) (string, error) {
		argv := append([]string{"discovery"}, args...)
		argv = append(argv, "--endpoints", url, "--cacert", admin.CAFile, "--cert", admin.CertFile, "--key", admin.KeyFile)
		out, err := exec.Command(filepath.Join(bin, "etcdboot"), argv...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := ctl("new", "--size", "3", "--token", token); err != nil || out != token {
		t.Fatalf("discovery new: %v %s", err, out)
	}
	startHealthy(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/disco", "formed"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, c.Nodes[1].ClientURL(), "/disco"); err != nil || got != "formed" {
		t.Fatalf("read back: %q %v", got, err)
	}
	out, err := ctl("status", token)
	if err != nil || !strings.Contains(out, "3 of 3 members registered") {
		t.Fatalf("discovery status: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		if !strings.Contains(out, n.Name) {
			t.Errorf("status does not list %s:\n%s", n.Name, out)
		}
	}
	st, err := discovery.GetTokenStatus(ctx, discovery.TokenCluster{Endpoints: []string{url}, TLS: admin}, token)
	if err != nil || !st.Full() {
		t.Fatalf("token status: %+v %v", st, err)
	}

	// A 4th node started with the same, now full, token: same CA (same out/).
	c4, err := testcluster.New(lab, testcluster.Options{Members: 1, FirstHost: 14, Bin: bin, WorkDir: work, Discovery: spec.DiscoveryEtcd,
		EtcdDiscovery: &spec.EtcdDiscovery{Endpoints: endpoints, Token: token}})
	if err != nil {
		t.Fatal(err)
	}
	n4 := c4.Nodes[0]
	run, err := n4.Host.Run(ctx, n4.AgentArgv("--discovery-timeout", "5s")...)
	if err == nil {
		t.Fatalf("a 4th member formed a cluster with a full token:\n%s", run)
	}
	for _, want := range []string{"discovery token is full", token, "etcd1, etcd2, etcd3"} {
		if !strings.Contains(string(run), want) {
			t.Errorf("error lacks %q:\n%s", want, run)
		}
	}
	// The token and the cluster are untouched.
	if _, err := ctl("new", "--size", "5", "--token", token); err == nil {
		t.Error("re-creating the token with another size succeeded")
	}
}

func TestEtcdV3DiscoveryEndpointDownIsRetriedThenReported(t *testing.T) {
	// Nothing listens on the discovery endpoint's address.
	c := newCluster(t, testcluster.Options{Members: 3, Discovery: spec.DiscoveryEtcd,
		EtcdDiscovery: &spec.EtcdDiscovery{Endpoints: []string{"https://" + discoAddr + ":2379"}, Token: "nobody-home"}})
	if _, err := c.Lab.AddHost("disco", netip.MustParseAddr(discoAddr)); err != nil {
		t.Fatal(err)
	}
	n := c.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.Host.Run(ctx, n.AgentArgv("--discovery-timeout", "4s")...)
	if err == nil {
		t.Fatalf("the agent started with its discovery service down:\n%s", out)
	}
	for _, want := range []string{"etcd discovery: retrying", "etcd discovery failed after", discoAddr} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(n.StateDir(), "etcd.pid")); err == nil {
		t.Error("etcd was started although discovery never answered")
	}
}
