package bootstrap

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// TestDroppedByAsksTheOtherMembers runs a real etcd as "the other members"
// and asks it, as a member whose etcd exited or that was cut off would,
// whether it still lists that member: only a list of the same cluster
// without it says removed; any doubt says not.
func TestDroppedByAsksTheOtherMembers(t *testing.T) {
	etcdtest.Binary(t, "etcd")
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: "../examples/three-node-static/cluster.yaml", OutDir: out}); err != nil {
		t.Fatal(err)
	}
	e := etcdtest.Start(t, etcdtest.Member{PKIDir: filepath.Join(out, "pki"), DataDir: filepath.Join(t.TempDir(), "data")})
	cli := e.Client(t)
	defer cli.Close()
	ctx := context.Background()
	seen, err := readGroup(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if seen.Self == 0 || seen.Cluster == 0 || len(seen.Others) != 0 {
		t.Fatalf("a lone member read its group as %+v, want its own and its cluster's IDs and no others", seen)
	}
	tlsConf, err := e.TLS.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	unreachable := fmt.Sprintf("https://127.0.0.1:%d", etcdtest.FreePort(t))
	for _, tc := range []struct {
		name string
		g    groupSeen
		want bool
	}{
		{"listed", groupSeen{Self: seen.Self, Cluster: seen.Cluster, Others: []string{e.Endpoint}}, false},
		{"not listed in the same cluster", groupSeen{Self: seen.Self + 1, Cluster: seen.Cluster, Others: []string{e.Endpoint}}, true},
		{"not listed, another cluster answers", groupSeen{Self: seen.Self + 1, Cluster: seen.Cluster + 1, Others: []string{e.Endpoint}}, false},
		{"nobody answers", groupSeen{Self: seen.Self + 1, Cluster: seen.Cluster, Others: []string{unreachable}}, false},
		{"no other member known", groupSeen{Self: seen.Self + 1, Cluster: seen.Cluster}, false},
		{"own ID unknown", groupSeen{Cluster: seen.Cluster, Others: []string{e.Endpoint}}, false},
	} {
		if got := droppedBy(ctx, tc.g, tlsConf.Clone()); got != tc.want {
			t.Errorf("%s: droppedBy = %v, want %v", tc.name, got, tc.want)
		}
	}
}
