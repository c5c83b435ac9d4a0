package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/pki"
)

// TestCARotationUnderWriteLoad replaces the cluster's root CA with
// `etcdboot certs rotate --ca`, run once per phase, while a client writes
// without pause: (a) every CA file the bundle of both CAs, (b) every
// certificate from the new CA, (c) the old CA dropped. Each phase goes to
// every member with `etcdboot-agent certs install`, one after the other;
// after each, new handshakes on the client, peer, metrics and agent ports
// of every member are checked for the CA of the certificate served, and
// the next run of certs rotate --ca checks the members itself before it
// writes the next phase. Prometheus' and kube-apiserver's copies in out/
// work with every member before and after each install. etcd never restarts, at most one put fails (and
// its retry succeeds), every write is there, and certs check shows the
// phase.
func TestCARotationUnderWriteLoad(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3})
	startHealthy(t, c)

	pkiDir := filepath.Join(c.Out, "pki")
	ca, err := pki.ParseCertificates(mustRead(t, filepath.Join(pkiDir, "ca.crt")))
	if err != nil {
		t.Fatal(err)
	}
	oldRoot := ca[0]
	var newRoot *x509.Certificate

	w := &loadWriter{endpoints: c.Endpoints(), files: c.AdminTLS(), prefix: "/ca-rotate/"}
	// Client, peer, metrics and agent ports.
	ports := []int{2379, 2380, 2381, 2382}
	issuers := func() map[string]map[int]string {
		return servedRoots(t, c, pkiDir, ports, namedRoot{"old", oldRoot}, namedRoot{"new", newRoot})
	}
	want := func(roots string) map[string]map[int]string { return servingEverywhere(c, ports, roots) }
	if got := issuers(); fmt.Sprint(got) != fmt.Sprint(want("old")) {
		t.Fatalf("before the rotation, members serve %v", got)
	}
	procs := map[string]etcdProcess{}
	for _, n := range c.Nodes {
		p, err := etcdOf(n)
		if err != nil {
			t.Fatal(err)
		}
		procs[n.Name] = p
	}

	stopWriter := w.start(t)
	waitWrites := func(n int) { t.Helper(); w.waitFor(t, n) }
	waitWrites(100)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	etcdboot := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(c.Opts.Bin, "etcdboot"), args...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	specPath := filepath.Join(c.Opts.WorkDir, "cluster.yaml")
	for _, phase := range []struct {
		letter, name, serves string
	}{
		{"a", "trust-both", "old"},
		{"b", "new-leaves", "old+new"},
		{"c", "old-dropped", "old+new"},
	} {
		begin := time.Now()
		out, err := etcdboot("certs", "rotate", "--ca", "-f", specPath, "-o", c.Out)
		if err != nil {
			t.Fatalf("etcdboot certs rotate --ca, phase (%s): %v\n%s", phase.letter, err, out)
		}
		t.Logf("etcdboot certs rotate --ca:\n%s", out)
		if !strings.Contains(out, fmt.Sprintf("Phase (%s) %s written", phase.letter, phase.name)) {
			t.Fatalf("phase (%s) not written:\n%s", phase.letter, out)
		}
		if newRoot == nil {
			bundle, err := pki.ParseCertificates(mustRead(t, filepath.Join(pkiDir, "ca-new.crt")))
			if err != nil {
				t.Fatal(err)
			}
			newRoot = bundle[0]
		}
		// Prometheus and the API servers get their copies first; they must
		// work with members before and after the install.
		copiesWork(t, c, "phase ("+phase.letter+") written")
		check, _ := etcdboot("certs", "check", "-f", specPath, "--dir", pkiDir)
		if !strings.Contains(check, fmt.Sprintf("CA rotation: phase (%s) %s", phase.letter, phase.name)) {
			t.Errorf("certs check does not show phase (%s):\n%s", phase.letter, check)
		}
		for _, n := range c.Nodes {
			at := w.count()
			argv := []string{filepath.Join(c.Opts.Bin, "etcdboot-agent"), "certs", "install",
				"--user-data", filepath.Join(c.Out, "nodes", n.Name, "user-data"),
				"--payload", n.PayloadPath(), "--root", n.Root, "--state-dir", n.StateDir()}
			out, err := n.Host.Run(ctx, argv...)
			if err != nil {
				t.Fatalf("phase (%s): certs install on %s: %v\n%s", phase.letter, n.Name, err, out)
			}
			t.Logf("phase (%s): %s: etcdboot-agent certs install:\n%s", phase.letter, n.Name, out)
			waitWrites(at + 50)
		}
		copiesWork(t, c, "phase ("+phase.letter+") installed")
		if got := issuers(); fmt.Sprint(got) != fmt.Sprint(want(phase.serves)) {
			t.Errorf("after phase (%s), new handshakes get certificates verifying to %v, want %s everywhere", phase.letter, got, phase.serves)
		}
		t.Logf("phase (%s): written, installed on %d members and checked in %s; %d keys written", phase.letter, len(c.Nodes), time.Since(begin).Round(time.Millisecond), w.count())
	}
	out, err := etcdboot("certs", "rotate", "--ca", "-f", specPath, "-o", c.Out)
	if err != nil || !strings.Contains(out, "CA rotation complete") {
		t.Errorf("after phase (c), etcdboot certs rotate --ca: %v\n%s", err, out)
	}
	t.Logf("etcdboot certs rotate --ca:\n%s", out)
	time.Sleep(2 * time.Second)
	waitWrites(w.count() + 100)
	stopWriter()

	for _, n := range c.Nodes {
		p, err := etcdOf(n)
		if err != nil {
			t.Errorf("%s: %v", n.Name, err)
			continue
		}
		if p != procs[n.Name] {
			t.Errorf("etcd of %s restarted: was pid %d started at %s, now pid %d started at %s", n.Name, procs[n.Name].pid, procs[n.Name].startTime, p.pid, p.startTime)
		}
		select {
		case <-n.Agent.Exited():
			t.Errorf("the agent of %s exited: %v", n.Name, n.Agent.ExitErr())
		default:
		}
		onNode, err := pki.ParseCertificates(mustRead(t, filepath.Join(n.Root, "etc", "etcdboot", "pki", "ca.crt")))
		if err != nil || len(onNode) != 1 || !onNode[0].Equal(newRoot) {
			t.Errorf("%s's CA file after phase (c) is not the new CA alone (%v)", n.Name, err)
		}
	}
	for _, p := range []string{filepath.Join(c.Out, "monitoring", "tls", "ca.crt"), filepath.Join(c.Out, "kubeadm", "pki", "etcd", "ca.crt")} {
		if certs, err := pki.ParseCertificates(mustRead(t, p)); err != nil || len(certs) != 1 || !certs[0].Equal(newRoot) {
			t.Errorf("%s after phase (c) is not the new CA alone", p)
		}
	}
	w.check(ctx, t, c)
}

// copiesWork uses the monitoring and kubeadm copies in out/ as Prometheus
// and kube-apiserver would, with full verification: a scrape of every
// member's etcd and agent metrics with monitoring/tls/, and a read from
// every member with kubeadm/pki/.
func copiesWork(t *testing.T, c *testcluster.Cluster, when string) {
	t.Helper()
	mon := tlsfiles.Files{CAFile: filepath.Join(c.Out, "monitoring", "tls", "ca.crt"), CertFile: filepath.Join(c.Out, "monitoring", "tls", "client.crt"), KeyFile: filepath.Join(c.Out, "monitoring", "tls", "client.key")}
	kube := tlsfiles.Files{CAFile: filepath.Join(c.Out, "kubeadm", "pki", "etcd", "ca.crt"), CertFile: filepath.Join(c.Out, "kubeadm", "pki", "apiserver-etcd-client.crt"), KeyFile: filepath.Join(c.Out, "kubeadm", "pki", "apiserver-etcd-client.key")}
	monConf, err := mon.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeConf, err := kube.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	scraper := &http.Client{Transport: &http.Transport{TLSClientConfig: monConf, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for _, n := range c.Nodes {
		for _, port := range []int{2381, 2382} {
			resp, err := scraper.Get("https://" + netip.AddrPortFrom(n.Addr, uint16(port)).String() + "/metrics")
			if err != nil {
				t.Errorf("%s: Prometheus' copy cannot scrape %s:%d: %v", when, n.Name, port, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: scrape of %s:%d: %s", when, n.Name, port, resp.Status)
			}
		}
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.ClientURL()}, TLS: kubeConf.Clone(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Errorf("%s: kube-apiserver's copy: %v", when, err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Get(ctx, "/ca-rotate/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		cli.Close()
		if err != nil {
			t.Errorf("%s: kube-apiserver's copy cannot read from %s: %v", when, n.Name, err)
		}
	}
}

// namedRoot is a CA a served chain is judged against, by the name the
// CA rotation tests give it ("old", "new").
type namedRoot struct {
	name string
	root *x509.Certificate
}

// servedRoots says, per member and port, which roots the chain served to a
// new handshake verifies to alone: "old", "new", or "old+new" for a new-CA
// certificate that comes with the cross-certificate (which a member that
// loaded only the old CA needs); a failed handshake shows its error. The
// peer port is reached from the next member (only peers reach it), the
// others from the root namespace. A nil root is left out.
func servedRoots(t *testing.T, c *testcluster.Cluster, pkiDir string, ports []int, roots ...namedRoot) map[string]map[int]string {
	t.Helper()
	client, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, "admin.crt"), filepath.Join(pkiDir, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	// The chain is judged below, against each root alone.
	conf := &tls.Config{Certificates: []tls.Certificate{client}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	out := map[string]map[int]string{}
	for i, n := range c.Nodes {
		out[n.Name] = map[int]string{}
		for _, port := range ports {
			var from *netlab.Host
			if port == 2380 {
				from = c.Nodes[(i+1)%len(c.Nodes)].Host
			}
			chain, err := handshakeChain(from, netip.AddrPortFrom(n.Addr, uint16(port)).String(), conf)
			if err != nil {
				out[n.Name][port] = "handshake: " + err.Error()
				continue
			}
			var to []string
			for _, r := range roots {
				if r.root != nil && chainVerifiesTo(chain, r.root) {
					to = append(to, r.name)
				}
			}
			out[n.Name][port] = strings.Join(to, "+")
		}
	}
	return out
}

// servingEverywhere is what servedRoots shows when every member serves
// roots on every port.
func servingEverywhere(c *testcluster.Cluster, ports []int, roots string) map[string]map[int]string {
	out := map[string]map[int]string{}
	for _, n := range c.Nodes {
		out[n.Name] = map[int]string{}
		for _, port := range ports {
			out[n.Name][port] = roots
		}
	}
	return out
}

// handshakeChain is handshakeSerial returning the whole chain served.
func handshakeChain(h *netlab.Host, addr string, conf *tls.Config) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	c := conf.Clone()
	c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		chain = chain[:0]
		for _, der := range raw {
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return err
			}
			chain = append(chain, cert)
		}
		return nil
	}
	if _, err := handshakeSerial(h, addr, c); err != nil {
		return nil, err
	}
	return chain, nil
}

// chainVerifiesTo reports whether a served chain verifies to root alone.
func chainVerifiesTo(chain []*x509.Certificate, root *x509.Certificate) bool {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range chain[1:] {
		inters.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
