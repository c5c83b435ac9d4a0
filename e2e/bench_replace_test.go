package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/spec"
)

// BenchmarkReplaceVsEtcdctl compares, in the same run, a dead member's
// replacement by the agent in a 3-member autoscaling group (a new instance
// on a new address: agent start to promoted voter, firewall, discovery,
// certificates, stale member removal and learner add included) with what
// an operator's script does with the bare tools for a fresh disk on the
// same address: etcdctl member remove, member add --learner, etcd started
// with the initial cluster member add printed, then etcdctl member promote
// every 100 ms until it succeeds (each
// etcdctl call retried that way while etcd refuses it for now). Runs alternate which side goes first.
func BenchmarkReplaceVsEtcdctl(b *testing.B) {
	var agent, membership, bare time.Duration
	runAgent := func() {
		total, step := timeAgentReplacement(b)
		agent, membership = agent+total, membership+step
	}
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			runAgent()
			bare += timeBareReplacement(b)
		} else {
			bare += timeBareReplacement(b)
			runAgent()
		}
	}
	agent, membership, bare = agent/time.Duration(b.N), membership/time.Duration(b.N), bare/time.Duration(b.N)
	b.ReportMetric(float64(agent.Milliseconds()), "agent-ms")
	b.ReportMetric(float64(membership.Milliseconds()), "join-step-ms")
	b.ReportMetric(float64(bare.Milliseconds()), "etcdctl-ms")
	b.ReportMetric(float64(agent)/float64(bare), "agent/etcdctl")
	fmt.Printf("dead member to voting replacement: agent %v, etcdctl script %v, ratio %.2f\n", agent, bare, float64(agent)/float64(bare))
}

// timeAgentReplacement forms a group of 3, kills one member and times a new
// instance's agent from start to the healthy (promoted) step, and the
// membership step within it (lock, stale member removal, the members'
// firewalls, learner add) as the agent journaled it.
func timeAgentReplacement(b *testing.B) (total, membership time.Duration) {
	c := newCluster(b, testcluster.Options{GroupSize: 3, Seeds: []int{11, 12, 13}})
	for _, h := range []int{11, 12, 13} {
		if _, err := c.AddNode(h); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.StartAll(); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitHealthy(2 * time.Minute); err != nil {
		b.Fatal(err)
	}
	ageCluster()
	dead := aFollower(b, c)
	if err := dead.KillWithEtcd(); err != nil {
		b.Fatal(err)
	}
	c.Remove(dead)
	n, err := c.AddNode(14)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := n.StartAgent(); err != nil {
		b.Fatal(err)
	}
	if err := n.WaitHealthy(2 * time.Minute); err != nil {
		b.Fatal(err)
	}
	st, err := n.Journal()
	if err != nil {
		b.Fatal(err)
	}
	// Timed to the healthy step's journal record, not to WaitHealthy's
	// return: it polls every 200 ms.
	for i, r := range st.Done {
		if r.Step == bootstrap.StepMembership && i > 0 {
			membership = r.At.Sub(st.Done[i-1].At)
		}
		if r.Step == bootstrap.StepHealthy {
			total = r.At.Sub(start)
		}
	}
	if total <= 0 {
		b.Fatalf("no healthy step in %s's journal after its start: %+v", n.Name, st.Done)
	}
	if err := c.Lab.Close(); err != nil {
		b.Fatal(err)
	}
	return total, membership
}

// timeBareReplacement forms a 3-member cluster of bare etcd (the settings
// the agent writes, its firewall removed), kills one member, wipes its data
// dir and times the etcdctl script that brings it back as a voter.
func timeBareReplacement(b *testing.B) time.Duration {
	c := newCluster(b, testcluster.Options{Members: 3, ConfigFormat: spec.ConfigEnv})
	envs := map[*testcluster.Node][]string{}
	for _, n := range c.Nodes {
		if err := n.StartAgent("--crash-after", string(bootstrap.StepConfig)); err != nil {
			b.Fatal(err)
		}
		<-n.Agent.Exited()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := n.Host.Run(ctx, "nft", "delete", "table", "inet", "etcdboot")
		cancel()
		if err != nil {
			b.Fatalf("remove the agent's firewall from %s: %v: %s", n.Name, err, out)
		}
		env, err := bootstrap.ReadEnvFile(filepath.Join(n.Root, "etc/etcd/etcd.conf"))
		if err != nil {
			b.Fatal(err)
		}
		envs[n] = append(env, "ETCD_LOG_OUTPUTS="+filepath.Join(b.TempDir(), "etcd.log"))
	}
	procs := map[*testcluster.Node]interface{ Pid() int }{}
	for _, n := range c.Nodes {
		p, err := n.Host.Start("bare-etcd", []string{filepath.Join(c.Opts.Bin, "etcd")}, envs[n])
		if err != nil {
			b.Fatal(err)
		}
		procs[n] = p
	}
	tlsConf, err := c.AdminTLS().ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range c.Nodes {
		if err := bootstrap.WaitReady(ctx, bootstrap.HealthURL(n.ClientURL(), 6), tlsConf, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	ageCluster()
	dead := aFollower(b, c)
	_ = syscall.Kill(procs[dead].Pid(), syscall.SIGKILL)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", procs[dead].Pid())); err != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.RemoveAll(dead.DataDir()); err != nil {
		b.Fatal(err)
	}
	peerURL := "https://" + dead.Addr.String() + ":2380"
	etcdctl := func(args ...string) ([]byte, error) {
		tls := c.AdminTLS()
		argv := append([]string{"--endpoints", c.Nodes[0].ClientURL(), "--cacert", tls.CAFile, "--cert", tls.CertFile, "--key", tls.KeyFile}, args...)
		cmd := exec.CommandContext(ctx, filepath.Join(c.Opts.Bin, "etcdctl"), argv...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output() // stdout alone: member list's JSON
		if err != nil {
			return append(out, stderr.Bytes()...), err
		}
		return out, nil
	}

	start := time.Now()
	out, err := etcdctl("member", "list", "-w", "json")
	if err != nil {
		b.Fatalf("etcdctl member list: %v: %s", err, out)
	}
	var list struct {
		Members []listedMember `json:"members"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		b.Fatal(err)
	}
	i := slices.IndexFunc(list.Members, func(m listedMember) bool { return m.Name == dead.Name })
	if i < 0 {
		b.Fatalf("%s not in the member list: %s", dead.Name, out)
	}
	// A script retries what etcd refuses for now ("unhealthy cluster"
	// right after a removal, "not in sync" before a learner caught up)
	// every 100 ms, as the agent retries.
	untilOK := func(args ...string) []byte {
		for {
			out, err := etcdctl(args...)
			if err == nil {
				return out
			}
			if ctx.Err() != nil {
				b.Fatalf("etcdctl %v never succeeded: %v: %s", args, err, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	untilOK("member", "remove", strconv.FormatUint(list.Members[i].ID, 16))
	out = untilOK("member", "add", dead.Name, "--learner", "--peer-urls", peerURL)
	env := slices.DeleteFunc(slices.Clone(envs[dead]), func(kv string) bool {
		return strings.HasPrefix(kv, "ETCD_INITIAL_CLUSTER=") || strings.HasPrefix(kv, "ETCD_INITIAL_CLUSTER_STATE=")
	})
	var newID string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "ETCD_INITIAL_CLUSTER="); ok {
			env = append(env, "ETCD_INITIAL_CLUSTER="+strings.Trim(v, `"`))
		}
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "Member" && f[2] == "added" {
			newID = f[1]
		}
	}
	if newID == "" {
		b.Fatalf("no member ID in etcdctl member add's output: %s", out)
	}
	env = append(env, "ETCD_INITIAL_CLUSTER_STATE=existing")
	if _, err := dead.Host.Start("bare-etcd-new", []string{filepath.Join(c.Opts.Bin, "etcd")}, env); err != nil {
		b.Fatal(err)
	}
	untilOK("member", "promote", newID)
	elapsed := time.Since(start)
	if err := c.Lab.Close(); err != nil {
		b.Fatal(err)
	}
	return elapsed
}

// clusterAge is how long both sides let their cluster run before a member
// dies. etcd's strict reconfiguration check refuses a member add ("unhealthy
// cluster") until the member asked has been connected to a quorum of its
// peers for its HealthInterval (5 s, etcdserver.HealthInterval); a member
// killed right after the cluster formed would time that wait, which a
// member dying in a running group never meets.
const clusterAge = 6 * time.Second

// ageCluster lets a cluster that just became healthy run for clusterAge.
func ageCluster() {
	time.Sleep(clusterAge)
}

// aFollower is the last of c's members that is not the leader: both sides
// lose a follower, as a group does two times in three, so neither pays an
// election the other does not.
func aFollower(b *testing.B, c *testcluster.Cluster) *testcluster.Node {
	b.Helper()
	cli, err := c.Client()
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		st, err := cli.Status(ctx, c.Nodes[i].ClientURL())
		if err != nil {
			b.Fatalf("status of %s: %v", c.Nodes[i].Name, err)
		}
		if st.Leader != st.Header.MemberId {
			return c.Nodes[i]
		}
	}
	b.Fatal("no follower found")
	return nil
}

// listedMember is a member in `etcdctl member list -w json`.
type listedMember struct {
	ID   uint64 `json:"ID"`
	Name string `json:"name"`
}
