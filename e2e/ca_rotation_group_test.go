package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/pki"
)

// TestCARotationInAGroup replaces an autoscaling group's root CA with
// `etcdboot certs rotate --ca`, run once per phase, while a client writes
// without pause. Nothing is delivered by hand: each run publishes its phase
// through the group (the CA bundle at /etcdboot/ca, in phase (b) the new
// CA's issuer at /etcdboot/issuer) and every member's watcher installs it
// before its next renewal (every 2 s here). After each phase, every
// member's CA file is out/'s bundle and new handshakes on its client and
// peer ports get the certificates the phase says; the next run checks the
// members itself before it writes the next phase. etcd never restarts, at
// most one put fails (and its retry succeeds), every write is there, and a
// new instance launched from the launch payload the rotation left joins.
func TestCARotationInAGroup(t *testing.T) {
	c := newCluster(t, testcluster.Options{GroupSize: 3, Seeds: []int{11, 12, 13}})
	for _, h := range []int{11, 12, 13} {
		if _, err := c.AddNode(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.StartAll("--renew-interval", "2s"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	pkiDir := filepath.Join(c.Out, "pki")
	oldRoot := mustParse(t, mustRead(t, filepath.Join(pkiDir, "ca.crt")))[0]
	var newRoot *x509.Certificate

	// served says, per member, which roots the chains served on the client
	// and the peer port verify to alone.
	ports := []int{2379, 2380}
	served := func() map[string]map[int]string {
		return servedRoots(t, c, pkiDir, ports, namedRoot{"old", oldRoot}, namedRoot{"new", newRoot})
	}
	want := func(roots string) map[string]map[int]string { return servingEverywhere(c, ports, roots) }
	if got := served(); fmt.Sprint(got) != fmt.Sprint(want("old")) {
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

	w := &loadWriter{endpoints: c.Endpoints(), files: c.AdminTLS(), prefix: "/ca-rotate/"}
	stopWriter := w.start(t)
	waitWrites := func(n int) { t.Helper(); w.waitFor(t, n) }
	waitWrites(100)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	etcdboot := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, filepath.Join(c.Opts.Bin, "etcdboot"), args...).CombinedOutput()
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
		if !strings.Contains(out, fmt.Sprintf("Phase (%s) %s written", phase.letter, phase.name)) || !strings.Contains(out, "Published to the group at /etcdboot/ca") {
			t.Fatalf("phase (%s) not written and published:\n%s", phase.letter, out)
		}
		if newRoot == nil {
			newRoot = mustParse(t, mustRead(t, filepath.Join(pkiDir, "ca-new.crt")))[0]
		}
		if check, _ := etcdboot("certs", "check", "-f", specPath, "--dir", pkiDir); !strings.Contains(check, fmt.Sprintf("CA rotation: phase (%s) %s", phase.letter, phase.name)) {
			t.Errorf("certs check does not show phase (%s):\n%s", phase.letter, check)
		}
		bundle := mustRead(t, filepath.Join(pkiDir, "ca.crt"))
		at := w.count()
		// Every member's watcher takes the phase at its next renewal.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var behind []string
			for _, n := range c.Nodes {
				if !bytes.Equal(mustRead(t, filepath.Join(n.Root, "etc", "etcdboot", "pki", "ca.crt")), bundle) {
					behind = append(behind, n.Name+": CA file")
				}
			}
			got := served()
			if len(behind) == 0 && fmt.Sprint(got) == fmt.Sprint(want(phase.serves)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("phase (%s) not taken within 30s: %v; served %v, want %s everywhere", phase.letter, behind, got, phase.serves)
			}
			time.Sleep(250 * time.Millisecond)
		}
		waitWrites(at + 50)
		t.Logf("phase (%s): written, published, taken by %d members and checked in %s; %d keys written", phase.letter, len(c.Nodes), time.Since(begin).Round(time.Millisecond), w.count())
	}
	out, err := etcdboot("certs", "rotate", "--ca", "-f", specPath, "-o", c.Out)
	if err != nil || !strings.Contains(out, "CA rotation complete") {
		t.Errorf("after phase (c), etcdboot certs rotate --ca: %v\n%s", err, out)
	}
	t.Logf("etcdboot certs rotate --ca:\n%s", out)
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
		if log := agentLog(t, n); strings.Count(log, "installed the CA bundle published to the group") != 3 ||
			!strings.Contains(log, "installed the issuer published to the group") {
			t.Errorf("%s did not install the three bundles and the issuer:\n%s", n.Name, n.Agent.Tail(30))
		}
		if body := scrapeAgent(t, c, n); !strings.Contains(body, monitoring.MetricCABundles+`{result="installed"} 3`) ||
			!strings.Contains(body, monitoring.MetricCABundles+`{result="refused"} 0`) {
			t.Errorf("%s's agent does not count three installed bundles and none refused:\n%s", n.Name, body)
		}
		onNode := mustParse(t, mustRead(t, filepath.Join(n.Root, "etc", "etcdboot", "pki", "ca.crt")))
		for _, c := range onNode {
			if c.Equal(oldRoot) {
				t.Errorf("%s's CA file after phase (c) still holds the old CA", n.Name)
			}
		}
	}
	// A new instance launched from the launch payload the rotation left
	// (out/ regenerated as it is, keys and certificates kept) joins and
	// serves certificates of the new CA's issuer.
	res, err := generate.Run(generate.Options{SpecPath: specPath, OutDir: c.Out})
	if err != nil {
		t.Fatal(err)
	}
	c.Result = res
	for _, f := range res.Launch.Bundle.Files {
		if f.Path == res.Launch.Bundle.Payload.TLS.CAFile {
			if launchCA := mustParse(t, f.Contents); !launchCA[0].Equal(newRoot) {
				t.Fatal("the launch payload does not carry the new CA first")
			}
		}
	}
	if _, err := c.ReplaceNode(c.Nodes[2], 14, "--renew-interval", "2s"); err != nil {
		t.Fatal(err)
	}
	assertVoters(t, c, c.Nodes[0], "etcd-10-123-0-11", "etcd-10-123-0-12", "etcd-10-123-0-14")
	if got := served(); fmt.Sprint(got) != fmt.Sprint(want("old+new")) {
		t.Errorf("with the replacement, members serve %v, want old+new everywhere", got)
	}

	w.check(ctx, t, c)
}

func mustParse(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}
