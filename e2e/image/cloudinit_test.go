package image

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/nspawn"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
)

// TestImageBootsClusterFromNoCloudSeeds boots three copies of the image built
// by make image, each with its member's cloud-init user-data from the
// generator as a NoCloud seed. Nobody logs in: cloud-init writes the payload
// and starts the agent, the agent firewalls the node and starts etcd, and the
// three form a cluster that `etcdboot status` on the host finds healthy.
func TestImageBootsClusterFromNoCloudSeeds(t *testing.T) {
	bin := binDir(t)
	image := imageRoot(t, bin)
	c := newCluster(t, testcluster.Options{Members: 3})

	run := fmt.Sprint(time.Now().UnixNano())
	var machines = make(map[string]bootedMachine)
	for i, n := range c.Nodes {
		m := newMachine(t, image, n)
		userData, err := os.ReadFile(filepath.Join(c.Result.Nodes[i].Dir, "user-data"))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SeedNoCloud(userData, n.Name+"-"+run, n.Name); err != nil {
			t.Fatal(err)
		}
		machines[n.Name] = bootedMachine{m, n}
	}
	for _, bm := range machines {
		if err := bm.m.Boot(); err != nil {
			t.Fatal(err)
		}
	}
	for _, bm := range machines {
		waitBooted(t, bm.m, 3*time.Minute)
	}

	table := status(t, bin, 2*time.Minute, "-f", filepath.Join(c.Opts.WorkDir, "cluster.yaml"), "--pki", filepath.Join(c.Out, "pki"))
	t.Logf("etcdboot status:\n%s", table)
	for _, n := range c.Nodes {
		if !strings.Contains(table, n.Addr.String()) {
			t.Errorf("status table has no row for %s (%s)", n.Name, n.Addr)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/image/key", "from-the-host"); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes[1:] {
		if got, err := c.Get(ctx, n.ClientURL(), "/image/key"); err != nil || got != "from-the-host" {
			t.Errorf("read via %s: %q, %v", n.Name, got, err)
		}
	}

	for _, bm := range machines {
		checkFirstBoot(t, bm, bootstrap.ActionNew)
		if hostname, err := bm.m.Exec(ctx, "hostname"); err != nil || strings.TrimSpace(string(hostname)) != bm.n.Name {
			t.Errorf("%s: hostname %q (%v), want the payload's", bm.n.Name, hostname, err)
		}
		checkCloudInitDone(ctx, t, bm)
		checkNoKeyCopies(ctx, t, bm)
	}
}

type bootedMachine struct {
	m *nspawn.Machine
	n *testcluster.Node
}

// checkFirstBoot checks what the agent did inside a machine: its journal's
// plan (any action when action is ""), the payload's files with their owners, and the firewall in the
// machine's namespace.
func checkFirstBoot(t testing.TB, bm bootedMachine, action bootstrap.Action) {
	t.Helper()
	data, err := os.ReadFile(bm.m.Path("var/lib/etcdboot/journal.json"))
	if err != nil {
		t.Errorf("%s: the agent's journal: %v", bm.n.Name, err)
		return
	}
	var st bootstrap.JournalState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("%s: journal.json: %v", bm.n.Name, err)
	}
	if st.Plan == nil || (action != "" && st.Plan.Action != action) || st.MemberID == 0 {
		t.Errorf("%s: journal plan %+v member %x, want %s", bm.n.Name, st.Plan, st.MemberID, action)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The keys belong to etcd, which runs as etcd: the payload's owners
	// resolved inside the machine.
	out, err := bm.m.Exec(ctx, "stat", "-c", "%U:%G %a", "/etc/etcdboot/pki/server.key")
	if err != nil || strings.TrimSpace(string(out)) != "etcd:etcd 600" {
		t.Errorf("%s: server.key: %q %v, want etcd:etcd 600", bm.n.Name, out, err)
	}
	if out, err := bm.m.Exec(ctx, "sh", "-c", "stat -c %U /proc/$(systemctl show -p MainPID --value etcd.service)"); err != nil || strings.TrimSpace(string(out)) != "etcd" {
		t.Errorf("%s: etcd runs as %q (%v), want etcd", bm.n.Name, out, err)
	}
	// The agent's nftables table is in the machine's namespace; the peer
	// port admits the members' addresses.
	rules := nftRuleset(t, bm.n)
	if !containsAll(rules, "table inet etcdboot", "2380", "2379") || strings.Contains(rules, "reset") {
		t.Errorf("%s: no etcdboot firewall in the machine's namespace, or its peers are still held:\n%s", bm.n.Name, rules)
	}
	if action != bootstrap.ActionNew {
		return
	}
	// A new cluster's member held its peers until its etcd served; under
	// systemd a transient unit beside etcd.service let them in.
	journal, err := bm.m.Exec(ctx, "journalctl", "--no-pager", "-o", "cat")
	if log := string(journal); err != nil || !strings.Contains(log, "peers held off the peer port until etcd serves") ||
		!strings.Contains(log, "peers let in") || strings.Contains(log, "letting the peers in") {
		t.Errorf("%s: the agent did not hold its peers and let them in from a transient unit (%v):\n%s", bm.n.Name, err, grepLines(log, "peer"))
	}
}

// grepLines are the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for line := range strings.Lines(text) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimRight(line, "\n"))
		}
	}
	return strings.Join(out, "\n")
}

// checkCloudInitDone waits for cloud-init's last stage (the agent it started
// may well be healthy before cloud-final ends) and wants it error-free.
func checkCloudInitDone(ctx context.Context, t testing.TB, bm bootedMachine) {
	t.Helper()
	out, err := bm.m.Exec(ctx, "cloud-init", "status", "--wait", "--long")
	if err != nil || !strings.Contains(string(out), "status: done") {
		t.Errorf("%s: cloud-init status: %v\n%s", bm.n.Name, err, out)
	}
	// Every cloud-config it read, the image's and the payload's, passed its
	// schema check.
	if out, err := bm.m.Exec(ctx, "grep", "-h", "Invalid cloud-config", "/var/log/cloud-init.log", "/var/log/cloud-init-output.log"); err == nil {
		t.Errorf("%s: cloud-init found invalid cloud-config:\n%s", bm.n.Name, out)
	}
	// instance is an absolute symlink: look inside the machine.
	if out, err := bm.m.Exec(ctx, "cat", "/var/lib/cloud/instance/boot-finished"); err != nil {
		t.Errorf("%s: cloud-init did not finish: %v %s", bm.n.Name, err, out)
	}
}

// checkNoKeyCopies looks through a booted machine's whole file system for
// copies of its private keys (the first base64 line of each key file under
// /etc/etcdboot/pki): the only places allowed are etcd's key files (0600,
// owned by etcd) and the agent's own state. cloud-init keeps copies of the
// user data that carried them until the watcher empties them, once
// cloud-init has finished: wait for that.
func checkNoKeyCopies(ctx context.Context, t testing.TB, bm bootedMachine) {
	t.Helper()
	keys, err := bm.m.Exec(ctx, "sh", "-c", `for k in /etc/etcdboot/pki/*.key; do sed -n 2p "$k"; done`)
	if err != nil || len(strings.Fields(string(keys))) == 0 {
		t.Fatalf("%s: read the key files: %v %s", bm.n.Name, err, keys)
	}
	var pattern []string
	for _, line := range strings.Fields(string(keys)) {
		pattern = append(pattern, "-e", line)
	}
	var left []string
	deadline := time.Now().Add(time.Minute)
	for {
		out, _ := bm.m.Exec(ctx, append(append([]string{"grep", "-rlaF"}, pattern...), "/", "--exclude-dir=proc", "--exclude-dir=sys", "--exclude-dir=dev")...)
		left = left[:0]
		for _, p := range strings.Fields(string(out)) {
			switch {
			case strings.HasPrefix(p, "/etc/etcdboot/pki/") && strings.HasSuffix(p, ".key"):
				if st, err := bm.m.Exec(ctx, "stat", "-c", "%U %a", p); err != nil || strings.TrimSpace(string(st)) != "etcd 600" {
					t.Errorf("%s: key file %s: %q %v, want owner etcd, mode 600", bm.n.Name, p, st, err)
				}
			case strings.HasPrefix(p, "/var/lib/etcdboot/"):
			default:
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: copies of its private keys are left after boot: %v", bm.n.Name, left)
			return
		}
		time.Sleep(2 * time.Second)
	}
}
