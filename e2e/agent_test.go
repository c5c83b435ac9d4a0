package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/generate"
)

func startHealthy(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	if err := c.StartAll(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
}

// tcpOpen reports whether host can open a TCP connection to addr:port.
func tcpOpen(h *netlab.Host, addr netip.Addr, port int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := h.Run(ctx, "timeout", "2", "bash", "-c", fmt.Sprintf("echo > /dev/tcp/%s/%d", addr, port))
	return err == nil
}

// etcdctlGet runs the real etcdctl inside h with the admin certificate.
func etcdctlGet(c *testcluster.Cluster, h *netlab.Host, endpoint, key string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tls := c.AdminTLS()
	out, err := h.Run(ctx, filepath.Join(c.Opts.Bin, "etcdctl"), "--endpoints", endpoint,
		"--cacert", tls.CAFile, "--cert", tls.CertFile, "--key", tls.KeyFile,
		"--dial-timeout", "2s", "--command-timeout", "4s", "get", key, "--print-value-only")
	return strings.TrimSpace(string(out)), err
}

func TestFirewallLetsOnlyPeersReachThePeerPort(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3, ClientCIDR: "10.123.0.0/25"})
	startHealthy(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/fw", "ok"); err != nil {
		t.Fatal(err)
	}
	client, err := c.Lab.AddHost("client", netip.MustParseAddr("10.123.0.100"))
	if err != nil {
		t.Fatal(err)
	}
	outsider, err := c.Lab.AddHost("outsider", netip.MustParseAddr("10.123.0.200"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		// Each member of the new cluster held its peers off its peer port
		// while its etcd bootstrapped, and let them in once it served.
		if log := agentLog(t, n); !strings.Contains(log, "peers held off the peer port until etcd serves") || !strings.Contains(log, "peers let in") {
			t.Errorf("%s did not hold and then let in its peers:\n%s", n.Name, n.Agent.Tail(30))
		}
		// A peer reaches the peer port; that is how the cluster formed.
		if !tcpOpen(c.Nodes[(indexOf(c, n)+1)%len(c.Nodes)].Host, n.Addr, 2380) {
			t.Errorf("peer cannot reach %s:2380", n.Name)
		}
		if tcpOpen(client, n.Addr, 2380) {
			t.Errorf("non-peer client reached %s:2380", n.Name)
		}
		if got, err := etcdctlGet(c, client, n.ClientURL(), "/fw"); err != nil || got != "ok" {
			t.Errorf("client in clientCIDRs could not read via %s: %q %v", n.Name, got, err)
		}
		// 2381 is etcd's metrics, 2382 the agent's: both for monitoring CIDRs.
		for _, port := range []int{2381, 2382} {
			if !tcpOpen(client, n.Addr, port) {
				t.Errorf("monitoring CIDR cannot reach %s:%d", n.Name, port)
			}
		}
		for _, port := range []int{2379, 2380, 2381, 2382} {
			if tcpOpen(outsider, n.Addr, port) {
				t.Errorf("outsider reached %s:%d", n.Name, port)
			}
		}
	}
	// The live ruleset matches the payload's policy. A context of its own:
	// the dropped probes above each wait out their timeout.
	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer scancel()
	out, err := c.Nodes[0].Host.Run(sctx, filepath.Join(c.Opts.Bin, "etcdboot-agent"), "firewall", "show", "--live")
	if err != nil || !strings.Contains(string(out), "10.123.0.12") || !strings.Contains(string(out), "10.123.0.0/25") ||
		!strings.Contains(string(out), "tcp dport 2382 ip saddr @monitoring4 accept") ||
		!strings.Contains(string(out), "tcp dport 2380 ip saddr @peers4 accept") || strings.Contains(string(out), "reset") {
		t.Errorf("firewall show --live: %v\n%s", err, out)
	}
}

func indexOf(c *testcluster.Cluster, n *testcluster.Node) int {
	for i, m := range c.Nodes {
		if m == n {
			return i
		}
	}
	return -1
}

func TestFirewallIsUpBeforeEtcdListens(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3})
	n := c.Nodes[0]
	if err := n.StartAgent("--crash-after", string(bootstrap.StepConfig)); err != nil {
		t.Fatal(err)
	}
	if err := n.Agent.Wait(60 * time.Second); err == nil {
		t.Fatal("the agent should have crashed on purpose")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := n.Host.Run(ctx, "nft", "list", "table", "inet", "etcdboot")
	if err != nil || !strings.Contains(string(out), "peers4") {
		t.Fatalf("table inet etcdboot not in place after the config step: %v\n%s", err, out)
	}
	if tcpOpen(n.Host, n.Addr, 2379) {
		t.Fatal("something listens on 2379 before the start step")
	}
	st, err := n.Journal()
	if err != nil {
		t.Fatal(err)
	}
	if st.Done[0].Step != bootstrap.StepPayload || st.Done[1].Step != bootstrap.StepFirewall {
		t.Errorf("firewall is not the first step after the payload: %+v", st.Done)
	}
}

func TestRebootRestartsWithItsData(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3})
	startHealthy(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	victim := c.Nodes[1]
	if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/before", "1"); err != nil {
		t.Fatal(err)
	}
	before, _ := victim.Journal()
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	// The cluster keeps quorum and takes writes while the member is down.
	if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/during", "2"); err != nil {
		t.Fatal(err)
	}
	if err := victim.StartAgent(); err != nil {
		t.Fatal(err)
	}
	if err := victim.WaitHealthy(90 * time.Second); err != nil {
		t.Fatal(err)
	}
	after, err := victim.Journal()
	if err != nil {
		t.Fatal(err)
	}
	if after.Plan.Action != bootstrap.ActionRestart || after.MemberID != before.MemberID {
		t.Fatalf("after reboot: plan %+v member %x (was %x)", after.Plan, after.MemberID, before.MemberID)
	}
	for key, want := range map[string]string{"/before": "1", "/during": "2"} {
		if got, err := c.Get(ctx, victim.ClientURL(), key); err != nil || got != want {
			t.Errorf("%s via the restarted member: %q %v", key, got, err)
		}
	}
	if len(after.MovedAside) != 0 {
		t.Errorf("a restart moved data aside: %v", after.MovedAside)
	}
}

// TestAgentKilledAtEveryStepComesUp kills the agent (and with it etcd) right
// after each journaled step, reruns it, and expects a healthy member each time.
func TestAgentKilledAtEveryStepComesUp(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3})
	for _, n := range c.Nodes[:2] {
		if err := n.StartAgent(); err != nil {
			t.Fatal(err)
		}
	}
	n := c.Nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for i, step := range bootstrap.Steps {
		t.Run(string(step), func(t *testing.T) {
			if err := n.StartAgent("--crash-after", string(step)); err != nil {
				t.Fatal(err)
			}
			if err := n.Agent.Wait(2 * time.Minute); err == nil {
				t.Fatalf("agent did not crash after %s", step)
			}
			if err := n.StartAgent(); err != nil {
				t.Fatal(err)
			}
			if err := n.WaitHealthy(2 * time.Minute); err != nil {
				t.Fatal(err)
			}
			key := fmt.Sprintf("/crash/%d", i)
			if err := c.Put(ctx, n.ClientURL(), key, string(step)); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Get(ctx, c.Nodes[0].ClientURL(), key); err != nil || got != string(step) {
				t.Fatalf("write through %s not seen: %q %v", n.Name, got, err)
			}
			if err := n.Kill(); err != nil {
				t.Fatal(err)
			}
		})
	}
	st, _ := n.Journal()
	if len(st.MovedAside) != 0 {
		t.Errorf("crashes made the agent move data aside: %v", st.MovedAside)
	}
}

// listTree lists every file and directory under root.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestBadPayloadsFailClearlyAndDeleteNothing(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3})
	n := c.Nodes[0]
	// Another cluster's PKI, for a payload that mixes two clusters.
	otherOut := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: "../examples/three-node-static/cluster.yaml", OutDir: otherOut}); err != nil {
		t.Fatal(err)
	}
	pkiDir := filepath.Join(n.Root, "etc/etcdboot/pki")
	payload, err := os.ReadFile(n.PayloadPath())
	if err != nil {
		t.Fatal(err)
	}
	restore := func() {
		if err := c.Result.Nodes[0].Bundle.WriteTree(n.Root); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		breakIt func()
		args    []string
		want    []string
	}{
		{"missing payload", func() {}, []string{"--payload", filepath.Join(n.Root, "etc/etcdboot/absent.yaml")},
			[]string{"payload:", "absent.yaml", "no such file"}},
		{"truncated yaml", func() {
			// Cut at a line end a third of the way in, as a short write leaves it.
			cut := bytes.LastIndexByte(payload[:len(payload)/3], '\n') + 1
			_ = os.WriteFile(n.PayloadPath(), payload[:cut], 0o600)
		}, nil, []string{"node.yaml:", "is missing: the payload is incomplete (truncated?)"}},
		{"wrong CA", func() {
			data, _ := os.ReadFile(filepath.Join(otherOut, "pki", "ca.crt"))
			_ = os.WriteFile(filepath.Join(pkiDir, "ca.crt"), data, 0o644)
		}, nil, []string{"tls.serverCertFile", "is not signed by the CA", "regenerate"}},
		{"certificate of another node", func() {
			for _, f := range []string{"server", "peer"} {
				crt, _ := os.ReadFile(filepath.Join(c.Out, "pki", "etcd2-"+f+".crt"))
				key, _ := os.ReadFile(filepath.Join(c.Out, "pki", "etcd2-"+f+".key"))
				_ = os.WriteFile(filepath.Join(pkiDir, f+".crt"), crt, 0o644)
				_ = os.WriteFile(filepath.Join(pkiDir, f+".key"), key, 0o600)
			}
		}, nil, []string{"tls.serverCertFile", "not valid for this node's address 10.123.0.11"}},
		{"data dir of another cluster", func() {
			makeForeignDataDir(t, c.Opts.Bin, n.DataDir())
		}, nil, []string{"etcd.dataDir", "data dir belongs to another member or cluster", "move it aside yourself"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			restore()
			tt.breakIt()
			before := listTree(t, n.Root)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			argv := n.AgentArgv(tt.args...)
			out, err := n.Host.Run(ctx, argv...)
			if err == nil {
				t.Fatalf("agent succeeded on a bad payload:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("error lacks %q:\n%s", w, out)
				}
			}
			after := listTree(t, n.Root)
			for _, p := range before {
				if !contains(after, p) {
					t.Errorf("%s was deleted", p)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}

// makeForeignDataDir runs a real etcd of another cluster on loopback to leave
// its data dir at dir.
func makeForeignDataDir(t *testing.T, bin, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "member")); err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, peer := "http://"+freeLoopback(t), "http://"+freeLoopback(t)
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "etcd"), "--name", "stranger", "--data-dir", dir,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "stranger="+peer, "--initial-cluster-token", "another-cluster")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for ctx.Err() == nil {
		if _, err := os.Stat(filepath.Join(dir, "member", "snap", "db")); err == nil {
			time.Sleep(500 * time.Millisecond) // let the first batch commit
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the foreign etcd never wrote its db:\n%s", out.String())
}

// freeLoopback returns a free 127.0.0.1 port.
func freeLoopback(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestAgentWaitsForItsAddress starts a member's agent before its host has
// the member's address (a unit ordered before a slow DHCP): the agent waits
// instead of starting an etcd that cannot bind, and the cluster forms once
// the address is there. A host that never gets it fails with what is
// missing, after --address-timeout.
func TestAgentWaitsForItsAddress(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3})
	late := c.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cidr := late.Addr.String() + "/24"
	if out, err := late.Host.Run(ctx, "ip", "addr", "del", cidr, "dev", "eth0"); err != nil {
		t.Fatalf("remove %s: %v %s", cidr, err, out)
	}
	if err := late.StartAgent("--address-timeout", "3s"); err != nil {
		t.Fatal(err)
	}
	if err := late.Agent.Wait(30 * time.Second); err == nil {
		t.Fatal("the agent came up on a host without its address")
	}
	if log := late.Agent.Tail(5); !strings.Contains(log, "this host has no such address: ["+late.Addr.String()+"]") || !strings.Contains(log, "after 3s") {
		t.Errorf("the error does not say which address is missing:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(late.Root, "etc/etcd/etcd.conf")); err == nil {
		t.Error("etcd's config was written before the address was there")
	}

	if err := c.StartAll(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the address comes up while the agent waits
	if out, err := late.Host.Run(ctx, "ip", "addr", "add", cidr, "dev", "eth0"); err != nil {
		t.Fatalf("add %s: %v %s", cidr, err, out)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if log := late.Agent.Tail(200); !strings.Contains(log, "waiting for this node's address") {
		t.Errorf("the agent did not say it waited for its address:\n%s", log)
	}
}
