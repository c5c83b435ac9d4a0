package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
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
			// Each agent serves its own metrics over mTLS on 2382.
			tlsConf, err := c.AdminTLS().ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
			for _, n := range c.Nodes {
				resp, err := hc.Get("https://" + n.Addr.String() + ":2382/metrics")
				if err != nil {
					t.Fatalf("agent metrics of %s: %v", n.Name, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				for _, want := range []string{`etcdboot_agent_phase{phase="ready"} 1`, `etcdboot_certificate_expiry_timestamp_seconds{cert="server"}`} {
					if !strings.Contains(string(body), want) {
						t.Errorf("%s metrics lack %s:\n%s", n.Name, want, body)
					}
				}
			}
		})
	}
}
