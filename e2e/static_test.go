package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/spec"
)

func TestStaticClusterForms(t *testing.T) {
	for _, tc := range []struct {
		members int
		format  string
	}{{3, spec.ConfigYAML}, {5, spec.ConfigEnv}} {
		t.Run(fmt.Sprintf("%d-members-%s", tc.members, tc.format), func(t *testing.T) {
			c := newCluster(t, testcluster.Options{Members: tc.members, ConfigFormat: tc.format})
			if err := c.StartAll(); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitHealthy(2 * time.Minute); err != nil {
				t.Fatal(err)
			}
			for _, n := range c.Nodes {
				st, err := n.Journal()
				if err != nil {
					t.Fatal(err)
				}
				if st.Plan == nil || st.Plan.Action != bootstrap.ActionNew || st.MemberID == 0 {
					t.Errorf("%s journal: %+v", n.Name, st)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.Put(ctx, c.Nodes[0].ClientURL(), "/e2e/key", "written-via-"+c.Nodes[0].Name); err != nil {
				t.Fatal(err)
			}
			for _, n := range c.Nodes[1:] {
				got, err := c.Get(ctx, n.ClientURL(), "/e2e/key")
				if err != nil || got != "written-via-"+c.Nodes[0].Name {
					t.Errorf("read via %s: %q, %v", n.Name, got, err)
				}
			}
			cli, err := c.Client()
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			ml, err := cli.MemberList(ctx)
			if err != nil || len(ml.Members) != tc.members {
				t.Fatalf("member list: %v %v", ml, err)
			}
		})
	}
}
