package etcdconfig

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/spec"
)

// TestEveryEtcdReleaseReportsNotServingWhileDefragmenting starts each etcd
// release of the matrix with the configuration Member renders, in both
// formats, and watches etcd's gRPC health service while a defragmentation
// runs: the member must say NOT_SERVING, then SERVING again, so that
// clients that check health route around a member the maintenance round is
// defragmenting. Without the setting the member stays SERVING throughout.
func TestEveryEtcdReleaseReportsNotServingWhileDefragmenting(t *testing.T) {
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(t), OutDir: out}); err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(out, "pki")
	formats := []string{spec.ConfigYAML, spec.ConfigEnv}
	ports := etcdtest.FreePorts(t, 3*len(formats)*len(etcdtest.Versions))
	for _, version := range etcdtest.Versions {
		for _, format := range formats {
			own := ports[:3]
			ports = ports[3:]
			t.Run(version+"/"+format, func(t *testing.T) {
				t.Parallel()
				m := startMember(t, pki, version, spec.TLS13, format, own)
				conf, err := tlsfiles.Files{CAFile: filepath.Join(pki, "ca.crt"), CertFile: filepath.Join(pki, "admin.crt"), KeyFile: filepath.Join(pki, "admin.key")}.ClientConfig()
				if err != nil {
					t.Fatal(err)
				}
				ep := fmt.Sprintf("https://127.0.0.1:%d", m.client)
				cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, TLS: conf, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
				if err != nil {
					t.Fatal(err)
				}
				defer cli.Close()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				// Some data, so that defragmenting takes long enough for
				// the health stream to see it.
				for i := 0; i < 20; i++ {
					var ops []clientv3.Op
					for j := 0; j < 100; j++ {
						ops = append(ops, clientv3.OpPut(fmt.Sprintf("/k/%d/%d", i, j), strings.Repeat("v", 1024)))
					}
					if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
						t.Fatal(err)
					}
				}
				stream, err := grpc_health_v1.NewHealthClient(cli.ActiveConnection()).Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
				if err != nil {
					t.Fatal(err)
				}
				if first, err := stream.Recv(); err != nil || first.Status != grpc_health_v1.HealthCheckResponse_SERVING {
					t.Fatalf("health before defragmenting: %v, %v; want SERVING", first, err)
				}
				statuses := make(chan string, 4)
				go func() {
					for {
						resp, err := stream.Recv()
						if err != nil {
							close(statuses)
							return
						}
						statuses <- resp.Status.String()
					}
				}()
				if _, err := cli.Defragment(ctx, ep); err != nil {
					t.Fatalf("defragment: %v", err)
				}
				// Both changes are sent before Defragment returns; a
				// moment more lets the stream deliver them.
				var seen []string
				timeout := time.After(2 * time.Second)
				for len(seen) < 2 {
					select {
					case s, ok := <-statuses:
						if !ok {
							t.Fatalf("health stream ended after %v", seen)
						}
						seen = append(seen, s)
					case <-timeout:
						t.Fatalf("health while defragmenting went %v; want [NOT_SERVING SERVING]", seen)
					}
				}
				if seen[0] != "NOT_SERVING" || seen[1] != "SERVING" {
					t.Fatalf("health while defragmenting went %v; want [NOT_SERVING SERVING]", seen)
				}
			})
		}
	}
}
