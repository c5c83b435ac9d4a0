package maintenance_test

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/health" // the health-checking balancer

	"github.com/etcdboot/etcdboot/bootstrap/maintenance"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// BenchmarkDefragStall compares, in the same run, the longest pause a
// client writing every 10 ms sees while a three-member cluster with live
// data and churn is defragmented: an etcdboot cluster (members with the
// setting the agent writes, so a member being defragmented reports
// NOT_SERVING on etcd's gRPC health service) by a maintenance round
// (followers one at a time, the leader last after moving leadership away),
// against a cluster of bare etcd with its defaults by `etcdctl defrag
// --cluster` (each member in turn). The client knows every member, as a
// Kubernetes API server does.
//
// round/etcdctl is measured with a client that checks health (gRPC's
// health-checking round robin, which etcd's docs pair with that setting):
// on the etcdboot cluster it leaves each member alone while it is
// defragmented. plain-round/etcdctl is the same with client/v3's defaults,
// which send every third put to whichever member is being defragmented
// whatever the tool: there the round can do no better than one member's
// defragmentation, as etcdctl. Runs alternate which side goes first.
func BenchmarkDefragStall(b *testing.B) {
	etcdctl := etcdtest.Binary(b, "etcdctl")
	// The flag is etcdconfig's setting for 3.6 (the default bin/etcd); its
	// test checks that every release the agent configures honours it.
	ours := startThree(b, "--feature-gates=StopGRPCServiceOnDefrag=true")
	bare := startThree(b)
	ctx := context.Background()
	for _, c := range []*cluster{ours, bare} {
		// Live data that defragmentation must copy: 20,000 keys of 1 KiB.
		cli := c.client(b)
		for start := 0; start < 20000; start += 100 {
			var ops []clientv3.Op
			for i := start; i < start+100; i++ {
				ops = append(ops, clientv3.OpPut(fmt.Sprintf("/live/%06d", i), strings.Repeat("v", 1024)))
			}
			if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	payload := ours.payload(b, 0, "8GiB", "{fragmentation: {freeRatio: 0.1, minFreeBytes: 1MiB}}")
	round := func(healthChecked bool) time.Duration {
		fragment(b, ours.client(b), 3000, 4096)
		return longestStall(b, ours, healthChecked, func() {
			r, err := maintenance.RunRound(ctx, maintenance.Options{PayloadPath: payload, StateDir: b.TempDir(), Endpoint: ours.members[0].Endpoint, Trigger: maintenance.TriggerManual})
			if err != nil || r.Result != maintenance.ResultOK || len(r.Members) != 3 {
				b.Fatalf("round %+v, %v", r, err)
			}
		})
	}
	all := func(healthChecked bool) time.Duration {
		fragment(b, bare.client(b), 3000, 4096)
		tls := bare.members[0].TLS
		var eps []string
		for _, m := range bare.members {
			eps = append(eps, m.Endpoint)
		}
		return longestStall(b, bare, healthChecked, func() {
			out, err := exec.Command(etcdctl, "--endpoints", strings.Join(eps, ","), "--cacert", tls.CAFile, "--cert", tls.CertFile, "--key", tls.KeyFile,
				"--command-timeout", "60s", "defrag", "--cluster").CombinedOutput()
			if err != nil {
				b.Fatalf("etcdctl defrag --cluster: %v: %s", err, out)
			}
		})
	}
	// roundStall and etcdctlStall: [0] with the plain client, [1] with the
	// health-checking one.
	var roundStall, etcdctlStall [2]time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, hc := range []int{1, 0} {
			if i%2 == 0 {
				roundStall[hc] += round(hc == 1)
				etcdctlStall[hc] += all(hc == 1)
			} else {
				etcdctlStall[hc] += all(hc == 1)
				roundStall[hc] += round(hc == 1)
			}
		}
	}
	for hc, prefix := range []string{"plain-", ""} {
		o, t := roundStall[hc]/time.Duration(b.N), etcdctlStall[hc]/time.Duration(b.N)
		b.ReportMetric(float64(o.Milliseconds()), prefix+"round-stall-ms")
		b.ReportMetric(float64(t.Milliseconds()), prefix+"etcdctl-stall-ms")
		b.ReportMetric(float64(o)/float64(max(t, time.Millisecond)), prefix+"round/etcdctl")
		fmt.Printf("longest write stall while defragmenting, %s client: round %v, etcdctl defrag --cluster on bare etcd %v\n",
			map[string]string{"plain-": "plain", "": "health-checking"}[prefix], o, t)
	}
}

// healthCheckingClient are the dial options of a client that asks etcd's
// gRPC health service which members serve and sends requests only to
// those: gRPC's round robin with health checking. client/v3's resolver
// names plain round robin in its service config, so that config is
// ignored and the default one with the health check is used instead.
func healthCheckingClient() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDisableServiceConfig(),
		grpc.WithDefaultServiceConfig(`{"loadBalancingPolicy":"round_robin","healthCheckConfig":{"serviceName":""}}`),
	}
}

// longestStall runs defrag while a client (health-checking or plain) puts
// every 10 ms (each put with a 10 s timeout, retried), and returns the longest time between two
// successful puts, from the first put after defrag started to the last.
func longestStall(b *testing.B, c *cluster, healthChecked bool, defrag func()) time.Duration {
	b.Helper()
	var dopts []grpc.DialOption
	if healthChecked {
		dopts = healthCheckingClient()
	}
	cli := c.client(b, dopts...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var longest time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := cli.Put(ctx, "/writer", fmt.Sprint(i))
			cancel()
			if err == nil {
				longest = max(longest, time.Since(last))
				last = time.Now()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	defrag()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	return longest
}
