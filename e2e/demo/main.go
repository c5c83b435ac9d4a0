// Command demo is `make demo`: it generates the manual procedure's 3-node
// cluster (examples/three-node-static, addresses moved to the lab subnet by a
// remap, the example itself untouched), boots each member through the real
// etcdboot-agent in its own network namespace, prints the health table,
// writes and reads a key with etcdctl over mTLS, and tears everything down at
// the end or on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/status"
)

func main() {
	bin := flag.String("bin", "bin", "directory with etcd, etcdctl and etcdboot-agent")
	specPath := flag.String("f", "examples/three-node-static/cluster.yaml", "cluster spec")
	remap := flag.String("remap", "192.168.2.0/24=10.123.0.0/24", "move the spec's addresses into the lab subnet")
	keep := flag.Bool("keep", false, "keep the cluster running until Ctrl-C")
	flag.Parse()
	if err := run(*bin, *specPath, *remap, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(bin, specPath, remap string, keep bool) error {
	bin, _ = filepath.Abs(bin)
	work, err := os.MkdirTemp("", "etcdboot-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	lab, err := netlab.New(netlab.Options{Prefix: "ebdemo", LogDir: filepath.Join(work, "logs")})
	if err != nil {
		return fmt.Errorf("create the lab (needs root): %w", err)
	}
	defer lab.Close()
	lab.CloseOnSignal()

	step("generate %s (addresses remapped %s)", specPath, remap)
	c, err := testcluster.New(lab, testcluster.Options{SpecPath: specPath, Remap: remap, Bin: bin, WorkDir: work})
	if err != nil {
		return err
	}
	fmt.Print(c.Result.Summary())

	step("boot %d members through etcdboot-agent, each in its own network namespace", len(c.Nodes))
	start := time.Now()
	if err := c.StartAll(); err != nil {
		return err
	}
	for _, n := range c.Nodes {
		if err := n.WaitHealthy(2 * time.Minute); err != nil {
			return err
		}
		st, _ := n.Journal()
		fmt.Printf("  %-6s %-15s plan=%s ready after %v\n", n.Name, n.Addr, st.Plan.Action, time.Since(start).Round(10*time.Millisecond))
	}

	step("etcdctl endpoint health + status, over mTLS (etcdboot status)")
	tls := c.AdminTLS()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := status.Check(ctx, status.Options{Endpoints: c.Endpoints(), CAFile: tls.CAFile, CertFile: tls.CertFile, KeyFile: tls.KeyFile})
	if err != nil {
		return err
	}
	if err := status.WriteTable(os.Stdout, rep); err != nil {
		return err
	}

	step("etcdctl put / get with the admin certificate")
	etcdctl := func(args ...string) (string, error) {
		argv := append([]string{"--endpoints", strings.Join(c.Endpoints(), ","), "--cacert", tls.CAFile, "--cert", tls.CertFile, "--key", tls.KeyFile}, args...)
		out, err := exec.CommandContext(ctx, filepath.Join(bin, "etcdctl"), argv...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for _, args := range [][]string{{"put", "/demo/greeting", "hello from etcdboot"}, {"get", "/demo/greeting"}, {"member", "list", "-w", "table"}} {
		out, err := etcdctl(args...)
		fmt.Printf("$ etcdctl %s\n%s\n", strings.Join(args, " "), out)
		if err != nil {
			return err
		}
	}

	step("the nftables policy on %s (etcdboot-agent firewall show --live)", c.Nodes[0].Name)
	out, err := c.Nodes[0].Host.Run(ctx, filepath.Join(bin, "etcdboot-agent"), "firewall", "show", "--live")
	fmt.Print(string(out))
	if err != nil {
		return err
	}
	if !rep.Healthy() {
		return fmt.Errorf("cluster is not healthy")
	}
	if keep {
		step("cluster is up; Ctrl-C tears it down")
		select {}
	}
	step("tear down")
	return nil
}
