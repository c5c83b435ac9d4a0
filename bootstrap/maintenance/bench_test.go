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

	"github.com/etcdboot/etcdboot/bootstrap/maintenance"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// BenchmarkDefragStall compares, in the same run on a real three-member
// cluster with live data and churn, the longest pause a client writing
// every 10 ms sees while the cluster is defragmented: by a maintenance
// round (followers one at a time, the leader last after moving leadership
// away) and by `etcdctl defrag --cluster` (every member at once). The
// client knows every member, as a Kubernetes API server does. Runs
// alternate which side goes first.
func BenchmarkDefragStall(b *testing.B) {
	etcdctl := etcdtest.Binary(b, "etcdctl")
	c := startThree(b)
	cli := c.client(b)
	// Live data that defragmentation must copy: 20,000 keys of 1 KiB.
	live := 20000
	ctx := context.Background()
	for start := 0; start < live; start += 100 {
		var ops []clientv3.Op
		for i := start; i < start+100; i++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("/live/%06d", i), strings.Repeat("v", 1024)))
		}
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	payload := c.payload(b, 0, "8GiB", "{fragmentation: {freeRatio: 0.1, minFreeBytes: 1MiB}}")
	round := func() time.Duration {
		fragment(b, cli, 3000, 4096)
		return longestStall(b, c, func() {
			r, err := maintenance.RunRound(ctx, maintenance.Options{PayloadPath: payload, StateDir: b.TempDir(), Endpoint: c.members[0].Endpoint, Trigger: maintenance.TriggerManual})
			if err != nil || r.Result != maintenance.ResultOK || len(r.Members) != 3 {
				b.Fatalf("round %+v, %v", r, err)
			}
		})
	}
	all := func() time.Duration {
		fragment(b, cli, 3000, 4096)
		tls := c.members[0].TLS
		var eps []string
		for _, m := range c.members {
			eps = append(eps, m.Endpoint)
		}
		return longestStall(b, c, func() {
			out, err := exec.Command(etcdctl, "--endpoints", strings.Join(eps, ","), "--cacert", tls.CAFile, "--cert", tls.CertFile, "--key", tls.KeyFile,
				"--command-timeout", "60s", "defrag", "--cluster").CombinedOutput()
			if err != nil {
				b.Fatalf("etcdctl defrag --cluster: %v: %s", err, out)
			}
		})
	}
	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			ours += round()
			theirs += all()
		} else {
			theirs += all()
			ours += round()
		}
	}
	ours, theirs = ours/time.Duration(b.N), theirs/time.Duration(b.N)
	b.ReportMetric(float64(ours.Milliseconds()), "round-stall-ms")
	b.ReportMetric(float64(theirs.Milliseconds()), "etcdctl-stall-ms")
	b.ReportMetric(float64(ours)/float64(max(theirs, time.Millisecond)), "round/etcdctl")
	fmt.Printf("longest write stall while defragmenting: round %v, etcdctl defrag --cluster %v\n", ours, theirs)
}

// longestStall runs defrag while a client puts every 10 ms (each put with
// a 10 s timeout, retried), and returns the longest time between two
// successful puts, from the first put after defrag started to the last.
func longestStall(b *testing.B, c *cluster, defrag func()) time.Duration {
	b.Helper()
	cli := c.client(b)
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
