package rotation

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// caNode is one member of a generated cluster placed under its own root, as
// its payload places it on a machine, with etcd running on those files.
type caNode struct {
	name, root string
	// files is a directory of symlinks named the way etcdtest wants them,
	// to the files under root.
	files       string
	agent       *bootstrap.Agent
	etcd        *etcdtest.Etcd
	client      string
	metrics     string
	peer        string
	peerPort    int
	metricsPort int
	dataDir     string
}

// startCANodes places every member of out on its own root and starts etcd on
// loopback with those files.
func startCANodes(t *testing.T, out string, names ...string) []*caNode {
	t.Helper()
	ports := etcdtest.FreePorts(t, 2*len(names))
	var nodes []*caNode
	var initial []string
	for i, name := range names {
		n := &caNode{name: name, root: t.TempDir(), files: t.TempDir(), peerPort: ports[2*i], metricsPort: ports[2*i+1]}
		ud, err := os.ReadFile(filepath.Join(out, "nodes", name, "user-data"))
		if err != nil {
			t.Fatal(err)
		}
		files, err := bootstrap.ReadCloudInit(ud)
		if err != nil {
			t.Fatal(err)
		}
		for path, data := range files {
			p := filepath.Join(n.root, path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		p, err := spec.LoadNodePayload(filepath.Join(n.root, spec.DefaultPayloadPath))
		if err != nil {
			t.Fatal(err)
		}
		for link, target := range map[string]string{
			"ca.crt": p.TLS.CAFile, name + "-server.crt": p.TLS.ServerCertFile, name + "-server.key": p.TLS.ServerKeyFile,
			name + "-peer.crt": p.TLS.PeerCertFile, name + "-peer.key": p.TLS.PeerKeyFile,
		} {
			if err := os.Symlink(filepath.Join(n.root, target), filepath.Join(n.files, link)); err != nil {
				t.Fatal(err)
			}
		}
		// etcdtest's own client follows the operator's files.
		for _, f := range []string{"admin.crt", "admin.key"} {
			if err := os.Symlink(filepath.Join(out, "pki", f), filepath.Join(n.files, f)); err != nil {
				t.Fatal(err)
			}
		}
		if n.agent, err = bootstrap.NewAgent(bootstrap.Config{PayloadPath: filepath.Join(n.root, spec.DefaultPayloadPath), Root: n.root, StateDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		n.peer = etcdtest.PeerURL(n.peerPort)
		initial = append(initial, name+"="+n.peer)
		nodes = append(nodes, n)
	}
	var members []etcdtest.Member
	for _, n := range nodes {
		n.metrics = fmt.Sprintf("https://127.0.0.1:%d", n.metricsPort)
		n.dataDir = filepath.Join(t.TempDir(), n.name)
		members = append(members, etcdtest.Member{Name: n.name, PKIDir: n.files, DataDir: n.dataDir, PeerPort: n.peerPort,
			InitialCluster: strings.Join(initial, ","), Flags: []string{"--listen-metrics-urls", n.metrics}})
	}
	for i, e := range etcdtest.StartCluster(t, members...) {
		nodes[i].etcd, nodes[i].client = e, e.Endpoint
	}
	return nodes
}

// startTime is etcd's process_start_time_seconds from its metrics: the
// same value before and after means the same process.
func startTime(t *testing.T, n *caNode, admin tlsfiles.Files) string {
	t.Helper()
	conf, err := admin.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}, Timeout: 5 * time.Second}
	resp, err := c.Get(n.metrics + "/metrics")
	if err != nil {
		t.Fatalf("%s metrics: %v", n.name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_start_time_seconds "); ok {
			return v
		}
	}
	t.Fatalf("%s: no process_start_time_seconds in its metrics", n.name)
	return ""
}

// servedChain dials addr and returns the chain it serves.
func servedChain(t *testing.T, url string, client tls.Certificate) []*x509.Certificate {
	t.Helper()
	chain, _, err := fetchChain(context.Background(), url, []tls.Certificate{client}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// verifiesTo reports whether a served chain verifies to root alone.
func verifiesTo(chain []*x509.Certificate, root *x509.Certificate) bool {
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range chain[1:] {
		inters.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// TestEtcdLoadsItsTrustedCAOnlyAtStart is why a CA rotation needs the
// cross-certificate: etcd (v3.6, client/pkg/v3/transport) re-reads its
// certificate and key at every handshake but builds the pool of trusted CAs
// once, when it starts. After its CA file became the bundle of the old and
// the new CA, a client certificate of the new CA alone is still refused on
// the client, peer and metrics ports; presented with the cross-certificate
// it is accepted; after the CA file lost the old CA, a client certificate of
// the old CA is still accepted. Only a restart changes what etcd trusts.
func TestEtcdLoadsItsTrustedCAOnlyAtStart(t *testing.T) {
	etcdtest.Binary(t, "etcd")
	_, out, _ := generated(t)
	n := startCANodes(t, out, "etcd1")[0]
	old := loadAuthority(t, filepath.Join(out, "pki"))
	next, err := pki.NewSuccessorCA(old, pki.KeySpec{}, 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	probe, err := newCAProbe(old, next)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(n.files, "ca.crt")
	ctx := context.Background()
	check := func(when string, wantOld, wantNewAlone, wantNewCross bool) {
		t.Helper()
		for _, ep := range []string{n.client, n.peer, n.metrics} {
			got := [3]bool{accepts(ctx, ep, probe.old, time.Second), accepts(ctx, ep, probe.newAlone, time.Second), accepts(ctx, ep, probe.newWithCross, time.Second)}
			if want := [3]bool{wantOld, wantNewAlone, wantNewCross}; got != want {
				t.Errorf("%s, %s accepts (old, new alone, new with cross-certificate) = %v, want %v", when, ep, got, want)
			}
		}
	}
	check("CA file old", true, false, true)
	writeFile(t, caFile, append(old.CertPEM(), next.CertPEM()...))
	check("CA file old+new, same process", true, false, true)
	writeFile(t, caFile, next.CertPEM())
	check("CA file new only, same process", true, false, true)

	// A restart loads the CA file as it is then: the bundle of both (its
	// own certificate and the test's client are still the old CA's).
	writeFile(t, caFile, append(old.CertPEM(), next.CertPEM()...))
	n.etcd.Stop()
	restarted := etcdtest.Start(t, etcdtest.Member{Name: n.name, PKIDir: n.files, DataDir: n.dataDir, PeerPort: n.peerPort})
	n.client, n.peer = restarted.Endpoint, restarted.PeerURL
	for _, ep := range []string{n.client, n.peer} {
		got := [3]bool{accepts(ctx, ep, probe.old, time.Second), accepts(ctx, ep, probe.newAlone, time.Second), accepts(ctx, ep, probe.newWithCross, time.Second)}
		if want := [3]bool{true, true, true}; got != want {
			t.Errorf("restarted on CA file old+new, %s accepts (old, new alone, new with cross-certificate) = %v, want %v", ep, got, want)
		}
	}
}

// caWriter puts keys one after the other through a client of every member,
// reconnecting every 300 ms with the operator's files as they are then
// (out/pki/ca.crt and admin), so that new handshakes with the certificates
// of each phase happen throughout. A failed put is retried with the same key.
type caLoad struct {
	out       string
	endpoints []string

	mu       sync.Mutex
	written  int
	failures []string
}

func (w *caLoad) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

func (w *caLoad) run(stop <-chan struct{}) {
	files := tlsfiles.Files{CAFile: filepath.Join(w.out, "pki", "ca.crt"), CertFile: filepath.Join(w.out, "pki", "admin.crt"), KeyFile: filepath.Join(w.out, "pki", "admin.key")}
	var cli *clientv3.Client
	var conf *tls.Config
	defer func() {
		if cli != nil {
			cli.Close()
		}
	}()
	var connected time.Time
	for i := 0; ; {
		select {
		case <-stop:
			return
		default:
		}
		if cli == nil || time.Since(connected) > 300*time.Millisecond {
			// The files are rewritten one by one; a half-written pair is
			// no request, so the previous configuration stays.
			if c, err := files.ClientConfig(); err == nil {
				conf = c
			}
			if cli != nil {
				cli.Close()
			}
			var err error
			cli, err = clientv3.New(clientv3.Config{Endpoints: w.endpoints, TLS: conf.Clone(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				w.mu.Lock()
				w.failures = append(w.failures, "connect: "+err.Error())
				w.mu.Unlock()
				cli = nil
				continue
			}
			connected = time.Now()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/ca/%06d", i), fmt.Sprint(i))
		cancel()
		if err != nil {
			w.mu.Lock()
			w.failures = append(w.failures, fmt.Sprintf("put /ca/%06d: %v", i, err))
			w.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
			continue
		}
		i++
		w.mu.Lock()
		w.written = i
		w.mu.Unlock()
	}
}

// TestCARotationUnderWriteLoadWithoutRestart runs all three phases of
// RotateCA against three real etcd members while a client writes without
// pause: each phase is written to out/, installed on every member with the
// agent's InstallUserData, and checked by the next RotateCA. After each
// phase the client, peer and metrics ports serve the expected CA's
// certificates; no etcd restarts; at most one put fails (and is retried).
func TestCARotationUnderWriteLoadWithoutRestart(t *testing.T) {
	etcdtest.Binary(t, "etcd")
	specPath, out, _ := generated(t)
	pkiDir := filepath.Join(out, "pki")
	nodes := startCANodes(t, out, "etcd1", "etcd2", "etcd3")
	admin := tlsfiles.Files{CAFile: filepath.Join(pkiDir, "ca.crt"), CertFile: filepath.Join(pkiDir, "admin.crt"), KeyFile: filepath.Join(pkiDir, "admin.key")}
	oldRoot := loadAuthority(t, pkiDir).Certificate()
	started := map[string]string{}
	var endpoints []string
	for _, n := range nodes {
		started[n.name] = startTime(t, n, admin)
		endpoints = append(endpoints, n.client)
	}

	w := &caLoad{out: out, endpoints: endpoints}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); w.run(stop) }()
	stopWriter := sync.OnceFunc(func() { close(stop); <-done })
	t.Cleanup(stopWriter)
	waitWrites := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for w.count() < n {
			if time.Now().After(deadline) {
				t.Fatalf("the writer wrote %d keys in 30s, want %d; failures: %v", w.count(), n, w.failures)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitWrites(50)

	ctx := context.Background()
	opts := LiveOptions{RotateOptions: RotateOptions{SpecPath: specPath, OutDir: out}, Endpoints: endpoints, Timeout: 2 * time.Second}
	var newRoot *x509.Certificate
	for _, phase := range []CAPhase{CAPhaseTrustBoth, CAPhaseNewLeaves, CAPhaseOldDropped} {
		begin := time.Now()
		res, err := RotateCA(ctx, opts)
		if err != nil {
			t.Fatalf("phase (%s): %v", phase.Letter(), err)
		}
		if res.Wrote != phase {
			t.Fatalf("wrote %q, want %q (%+v)", res.Wrote, phase, res.Decision)
		}
		if newRoot == nil {
			ca, err := pki.ParseCertificates(readFile(t, filepath.Join(pkiDir, "ca-new.crt")))
			if err != nil {
				t.Fatal(err)
			}
			newRoot = ca[0]
		}
		for _, n := range nodes {
			at := w.count()
			installed, err := n.agent.InstallUserData(filepath.Join(out, "nodes", n.name, "user-data"))
			if err != nil {
				t.Fatalf("phase (%s): install on %s: %v", phase.Letter(), n.name, err)
			}
			var what []string
			for _, c := range installed {
				if c.Replaced {
					what = append(what, c.Field)
				}
			}
			t.Logf("phase (%s) on %s: installed %v", phase.Letter(), n.name, what)
			waitWrites(at + 20)
		}
		// Served chains on every port, by new handshakes.
		client, err := tls.LoadX509KeyPair(admin.CertFile, admin.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			for _, ep := range []string{n.client, n.peer, n.metrics} {
				chain := servedChain(t, ep, client)
				toOld, toNew := verifiesTo(chain, oldRoot), verifiesTo(chain, newRoot)
				wantNew := phase != CAPhaseTrustBoth
				// A leaf of the new CA verifies to the old root through the
				// cross-certificate it comes with.
				if toNew != wantNew || !toOld {
					t.Errorf("phase (%s): %s serves %s (chain of %d): verifies to old %v, to new %v; want new %v", phase.Letter(), ep, chain[0].Subject, len(chain), toOld, toNew, wantNew)
				}
			}
		}
		t.Logf("phase (%s): written, installed on 3 members and checked in %s; %d keys written so far", phase.Letter(), time.Since(begin).Round(time.Millisecond), w.count())
	}
	res, err := RotateCA(ctx, opts)
	if err != nil || !res.Decision.Done {
		t.Fatalf("after phase (c): %+v, %v", res.Decision, err)
	}
	t.Logf("done: %v", res.Decision.Notes)
	waitWrites(w.count() + 50)
	stopWriter()

	for _, n := range nodes {
		if got := startTime(t, n, admin); got != started[n.name] {
			t.Errorf("etcd of %s restarted: process start %s, was %s", n.name, got, started[n.name])
		}
		ca := readFile(t, filepath.Join(n.files, "ca.crt"))
		if certs, err := pki.ParseCertificates(ca); err != nil || len(certs) != 1 || !certs[0].Equal(newRoot) {
			t.Errorf("%s's CA file after phase (c) is not the new CA alone", n.name)
		}
	}
	for _, p := range []string{filepath.Join(out, "monitoring", "tls", "ca.crt"), filepath.Join(out, "kubeadm", "pki", "etcd", "ca.crt")} {
		if certs, err := pki.ParseCertificates(readFile(t, p)); err != nil || len(certs) != 1 || !certs[0].Equal(newRoot) {
			t.Errorf("%s after phase (c) is not the new CA alone", p)
		}
	}
	for _, name := range []string{"admin", "healthcheck-client", "kube-apiserver-etcd-client"} {
		if err := pki.VerifyChain(readFile(t, filepath.Join(pkiDir, name+".crt")), pemOf(newRoot), nil, x509.ExtKeyUsageClientAuth); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(w.failures) > 1 {
		t.Errorf("%d failed puts, want at most one (retried):\n%s", len(w.failures), strings.Join(w.failures, "\n"))
	}
	t.Logf("%d keys written, failed puts: %v", w.written, w.failures)

	// A restart (any later one: a reboot, an upgrade) is when a member drops
	// the old CA: it then refuses the old CA's certificates and accepts the
	// new CA's without the cross-certificate.
	last := nodes[2]
	last.etcd.Stop()
	last.etcd = etcdtest.Start(t, etcdtest.Member{Name: last.name, PKIDir: last.files, DataDir: last.dataDir, PeerPort: last.peerPort,
		Flags: []string{"--listen-metrics-urls", last.metrics}})
	endpoints[2] = last.etcd.Endpoint
	st, err := LoadCARotation(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	seen, err := ObserveCA(ctx, pkiDir, st, endpoints, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range seen {
		restarted := i == 2
		if e.Served != IssuerNew || !e.AcceptsNew || e.AcceptsOld == restarted || e.AcceptsNewAlone != restarted {
			t.Errorf("%s (restarted %v): %+v", e.Endpoint, restarted, e)
		}
	}

	// Every write is there.
	cli := nodes[0].etcd.Client(t)
	defer cli.Close()
	resp, err := cli.Get(ctx, "/ca/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if int(resp.Count) != w.written {
		t.Errorf("%d keys under /ca/, want the %d written", resp.Count, w.written)
	}
}
