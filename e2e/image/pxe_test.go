package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/nspawn"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/spec"
)

// serveAddr is where `etcdboot serve` listens: the lab host's address on
// the bridge, the provisioning network of this lab.
const serveAddr = "10.123.0.1:18443"

// TestImageProvisionedByRealClients provisions three copies of the image the
// three ways a machine without a disk image gets its payload, each with the
// real client, and boots them into one cluster:
//
//   - etcd1: cloud-init's NoCloud data source fetches user-data and
//     meta-data over https from `etcdboot serve` (what ds=nocloud-net;s=URL
//     on a PXE kernel command line does), during the machine's boot;
//   - etcd2: the real ignition binary starts from a stub config whose
//     ignition.config.replace.source is the server's /ignition?mac=...,
//     fetches the member's config over https from the machine's namespace and
//     applies it to the machine's disk (fetch and files stages);
//   - etcd3: the real ignition binary applies the generated ignition.json
//     from a file (-platform file), as an image pipeline would.
func TestImageProvisionedByRealClients(t *testing.T) {
	bin := binDir(t)
	image := imageRoot(t, bin)
	ignitionBin := filepath.Join(bin, "ignition")
	if _, err := os.Stat(ignitionBin); err != nil {
		fatalOrSkip(t, "no %s: run make ignition", ignitionBin)
	}

	macs := map[string]string{"etcd1": "52:54:00:7b:00:0b", "etcd2": "52:54:00:7b:00:0c", "etcd3": "52:54:00:7b:00:0d"}
	work := t.TempDir()
	specPath := filepath.Join(work, "cluster.yaml")
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: etcdboot/v1\nname: pxe\netcd: {version: %s}\ndiscovery: {mode: static}\nmembers:\n", spec.DefaultEtcdVersion)
	for i, name := range []string{"etcd1", "etcd2", "etcd3"} {
		fmt.Fprintf(&b, "  - {name: %s, ips: [10.123.0.%d], mac: %q}\n", name, 11+i, macs[name])
	}
	b.WriteString("firewall: {clientCIDRs: [10.123.0.0/25], monitoringCIDRs: [10.123.0.0/25]}\n")
	if err := os.WriteFile(specPath, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, testcluster.Options{SpecPath: specPath, WorkDir: work})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nodes := map[string]*testcluster.Node{}
	for _, n := range c.Nodes {
		nodes[n.Name] = n
		// The machine's NIC has the MAC the spec lists for it.
		if out, err := n.Host.Run(ctx, "ip", "link", "set", "dev", "eth0", "address", macs[n.Name]); err != nil {
			t.Fatalf("set %s's MAC: %v: %s", n.Name, err, out)
		}
	}

	accessLog := startServe(t, bin, c.Out)
	caPEM, err := os.ReadFile(filepath.Join(c.Out, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + serveAddr

	// etcd1: cloud-init fetches its seed from the server while booting.
	m1 := newMachine(t, image, nodes["etcd1"])
	if err := m1.SeedNoCloudNet(base + "/cloud-init/" + strings.ReplaceAll(macs["etcd1"], ":", "-") + "/"); err != nil {
		t.Fatal(err)
	}
	// The image must trust the provisioning CA for https seeds.
	trustCA(t, m1, caPEM)

	// etcd2: Ignition, from a stub that replaces itself with the server's
	// config. Ignition's config cache, which the initramfs leaves in /run,
	// is there at boot.
	cache2 := filepath.Join(t.TempDir(), "ignition.json")
	m2 := newMachine(t, image, nodes["etcd2"], cache2+":/run/ignition.json")
	stub := stubIgnition(base+"/ignition?mac="+macs["etcd2"], caPEM)
	stubPath := filepath.Join(t.TempDir(), "stub.ign")
	if err := os.WriteFile(stubPath, stub, 0o600); err != nil {
		t.Fatal(err)
	}
	runIgnition(ctx, t, nodes["etcd2"], ignitionBin, m2, stubPath, cache2)
	if !ignitionConfigHoldsAKey(t, cache2) {
		t.Fatalf("etcd2: Ignition's config cache %s holds no private key: the scrub test below would prove nothing", cache2)
	}

	// etcd3: Ignition, from the generated file.
	cache3 := filepath.Join(t.TempDir(), "ignition.json")
	m3 := newMachine(t, image, nodes["etcd3"], cache3+":/run/ignition.json")
	runIgnition(ctx, t, nodes["etcd3"], ignitionBin, m3, filepath.Join(c.Result.Nodes[2].Dir, "ignition.json"), cache3)
	if !ignitionConfigHoldsAKey(t, cache3) {
		t.Fatalf("etcd3: Ignition's config cache %s holds no private key: the scrub test below would prove nothing", cache3)
	}

	machines := []bootedMachine{{m1, nodes["etcd1"]}, {m2, nodes["etcd2"]}, {m3, nodes["etcd3"]}}
	for _, bm := range machines {
		if err := bm.m.Boot(); err != nil {
			t.Fatal(err)
		}
	}
	for _, bm := range machines {
		waitBooted(t, bm.m, 3*time.Minute)
	}
	table := status(t, bin, 2*time.Minute, "-f", specPath, "--pki", filepath.Join(c.Out, "pki"))
	t.Logf("etcdboot status:\n%s", table)
	for _, bm := range machines {
		checkFirstBoot(t, bm, bootstrap.ActionNew)
	}

	// cloud-init's data source was the server, over the network.
	result, err := m1.Exec(ctx, "cat", "/run/cloud-init/result.json")
	if err != nil || !strings.Contains(string(result), "NoCloudNet") || !strings.Contains(string(result), base+"/cloud-init/") {
		t.Errorf("etcd1: cloud-init's data source is not the server: %v\n%s", err, result)
	}
	// Ignition applied etcd2's and etcd3's configs; its cached copy of each
	// (keys included) is emptied by the watcher, as are cloud-init's.
	for _, m := range []*nspawn.Machine{m2, m3} {
		if _, err := os.Stat(m.Path("etc/.ignition-result.json")); err != nil {
			t.Errorf("%s: no Ignition result: %v", m.Name(), err)
		}
	}
	for _, bm := range []bootedMachine{machines[1], machines[2]} {
		deadline := time.Now().Add(time.Minute)
		for {
			out, err := bm.m.Exec(ctx, "stat", "-c", "%s", "/run/ignition.json")
			if err == nil && strings.TrimSpace(string(out)) == "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: Ignition's cached config /run/ignition.json not emptied a minute after boot: size %q, %v", bm.n.Name, out, err)
				break
			}
			time.Sleep(time.Second)
		}
	}
	for _, bm := range machines {
		checkNoKeyCopies(ctx, t, bm)
	}
	// The server logged each machine's fetch, from the machine's address.
	logged := readFile(t, accessLog)
	for _, want := range []struct{ path, from string }{
		{"/cloud-init/" + strings.ReplaceAll(macs["etcd1"], ":", "-") + "/user-data", "10.123.0.11"},
		{"/ignition", "10.123.0.12"},
	} {
		if !logLine(logged, want.path, want.from) {
			t.Errorf("the access log has no fetch of %s from %s:\n%s", want.path, want.from, logged)
		}
	}
}

// startServe runs the real `etcdboot serve --tls` on the lab's host address
// and returns its log path once it answers /healthz.
func startServe(t testing.TB, bin, out string) string {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "etcdboot"), "serve", "-d", out, "--listen", serveAddr,
		"--base-url", "https://"+serveAddr, "--tls", "--log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("--- etcdboot serve log:\n%s", readFile(t, logPath))
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(out, "pki", "ca.crt"))))
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("https://" + serveAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return logPath
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcdboot serve never answered /healthz: %v\n%s", err, readFile(t, logPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stubIgnition is the small config a PXE kernel command line or an image
// carries: fetch the real one from source, trusting the provisioning CA.
func stubIgnition(source string, caPEM []byte) []byte {
	stub := map[string]any{
		"ignition": map[string]any{
			"version": "3.4.0",
			"config":  map[string]any{"replace": map[string]any{"source": source}},
			"security": map[string]any{"tls": map[string]any{"certificateAuthorities": []any{
				map[string]any{"source": "data:;base64," + base64.StdEncoding.EncodeToString(caPEM)},
			}}},
		},
	}
	data, _ := json.Marshal(stub)
	return data
}

// runIgnition runs the real ignition's fetch and files stages in the node's
// network namespace against the machine's disk, as the initramfs would on
// first boot, with its config cache (the fetched config, keys included) at
// cache.
func runIgnition(ctx context.Context, t testing.TB, n *testcluster.Node, ignitionBin string, m *nspawn.Machine, config, cache string) {
	t.Helper()
	for _, stage := range []string{"fetch", "files"} {
		out, err := n.Host.Run(ctx, "env", "IGNITION_CONFIG_FILE="+config, ignitionBin,
			"-platform", "file", "-stage", stage, "-root", m.Root(), "-config-cache", cache, "-log-to-stdout")
		if err != nil {
			t.Fatalf("ignition %s stage for %s: %v\n%s", stage, n.Name, err, tailLines(string(out), 40))
		}
	}
}

// trustCA adds a CA to the machine's system trust store.
func trustCA(t testing.TB, m *nspawn.Machine, caPEM []byte) {
	t.Helper()
	bundle := m.Path("etc/ssl/certs/ca-certificates.crt")
	f, err := os.OpenFile(bundle, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("%s: trust store: %v", m.Name(), err)
	}
	defer f.Close()
	if _, err := f.Write(caPEM); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// logLine reports whether one line of log mentions both path and from.
func logLine(log, path, from string) bool {
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), path) && strings.Contains(sc.Text(), from) {
			return true
		}
	}
	return false
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ignitionConfigHoldsAKey reports whether an Ignition config (as Ignition
// caches it) writes a private key: a file whose contents, a data URL,
// gzip-compressed or not, decode to a PEM private key.
func ignitionConfigHoldsAKey(t testing.TB, path string) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Storage struct {
			Files []struct {
				Path     string `json:"path"`
				Contents struct {
					Source      *string `json:"source"`
					Compression *string `json:"compression"`
				} `json:"contents"`
			} `json:"files"`
		} `json:"storage"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("Ignition's cache %s: %v", path, err)
	}
	for _, f := range cfg.Storage.Files {
		if f.Contents.Source == nil {
			continue
		}
		body, err := decodeDataURL(*f.Contents.Source)
		if err != nil {
			continue
		}
		if c := f.Contents.Compression; c != nil && *c == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				continue
			}
			if body, err = io.ReadAll(zr); err != nil {
				continue
			}
		}
		if bytes.Contains(body, []byte("PRIVATE KEY-----")) {
			return true
		}
	}
	return false
}

// decodeDataURL decodes an RFC 2397 data URL's payload.
func decodeDataURL(u string) ([]byte, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return nil, fmt.Errorf("not a data URL")
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fmt.Errorf("data URL without a comma")
	}
	if strings.HasSuffix(meta, ";base64") {
		return base64.StdEncoding.DecodeString(payload)
	}
	s, err := url.PathUnescape(payload)
	return []byte(s), err
}
