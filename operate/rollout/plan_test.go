package rollout

import (
	"strings"
	"testing"

	"github.com/etcdboot/etcdboot/internal/upgrade"
)

func cluster(leader string, releases ...string) upgrade.Cluster {
	c := upgrade.Cluster{Leader: leader}
	for i, r := range releases {
		v := upgrade.MustParse(r)
		c.Members = append(c.Members, upgrade.Member{Name: "etcd" + string(rune('1'+i)), Server: v, Healthy: true})
		if i == 0 || v.Compare(c.Version) < 0 {
			c.Version = upgrade.Version{Major: v.Major, Minor: v.Minor}
		}
	}
	return c
}

func TestPlanSteps(t *testing.T) {
	tests := []struct {
		name    string
		c       upgrade.Cluster
		to      string
		order   []string // members in step order
		actions []string
		refused string
		waits   string
	}{
		{name: "3.6 to 3.7, leader last", c: cluster("etcd1", "3.6.16", "3.6.16", "3.6.16"), to: "3.7.3",
			order: []string{"etcd2", "etcd3", "etcd1"}, actions: []string{"upgrade", "upgrade", "upgrade"}},
		{name: "3.5.27 to 3.6", c: cluster("etcd2", "3.5.27", "3.5.27", "3.5.27"), to: "3.6.16",
			order: []string{"etcd1", "etcd3", "etcd2"}, actions: []string{"upgrade", "upgrade", "upgrade"}},
		{name: "a half-rolled cluster finishes", c: cluster("etcd3", "3.7.3", "3.6.16", "3.6.16"), to: "3.7.3",
			order: []string{"etcd1", "etcd2", "etcd3"}, actions: []string{"none", "upgrade", "upgrade"}},
		{name: "skipping 3.6 is refused", c: cluster("etcd1", "3.5.27", "3.5.27", "3.5.27"), to: "3.7.3", refused: "etcd2: the data dir was written by etcd 3.5"},
		{name: "3.5 older than 3.5.26 to 3.6 is refused", c: cluster("etcd1", "3.5.27", "3.5.13", "3.5.27"), to: "3.6.16", refused: "3.5.13"},
		{name: "a downgrade without the procedure is refused", c: cluster("etcd1", "3.7.3", "3.7.3", "3.7.3"), to: "3.6.16", refused: "downgrade"},
		{name: "an enabled downgrade plans", c: func() upgrade.Cluster {
			c := cluster("etcd1", "3.7.3", "3.7.3", "3.7.3")
			c.Downgrade, c.Version = upgrade.MustParse("3.6.0"), upgrade.MustParse("3.6.0")
			for i := range c.Members {
				c.Members[i].Storage = upgrade.MustParse("3.6.0")
			}
			return c
		}(), to: "3.6.16", order: []string{"etcd2", "etcd3", "etcd1"}, actions: []string{"upgrade", "upgrade", "upgrade"}},
		{name: "a fresh 3.6 cluster whose storage version still says 3.5", c: func() upgrade.Cluster {
			c := cluster("etcd1", "3.6.16", "3.6.16", "3.6.16")
			for i := range c.Members {
				c.Members[i].Storage = upgrade.MustParse("3.5.0")
			}
			return c
		}(), to: "3.7.3", order: []string{"etcd2", "etcd3", "etcd1"}, actions: []string{"upgrade", "upgrade", "upgrade"}},
		{name: "an unhealthy voter makes the first step wait", c: func() upgrade.Cluster {
			c := cluster("etcd1", "3.6.16", "3.6.16", "3.6.16")
			c.Members[2].Healthy = false
			return c
		}(), to: "3.7.3", order: []string{"etcd2", "etcd3", "etcd1"}, actions: []string{"upgrade", "upgrade", "upgrade"}, waits: "etcd3 not healthy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := planSteps(tt.c, upgrade.MustParse(tt.to))
			if tt.refused != "" {
				if !strings.Contains(p.Refused, tt.refused) {
					t.Fatalf("refused %q, want it to say %q", p.Refused, tt.refused)
				}
				return
			}
			if p.Refused != "" {
				t.Fatalf("refused: %s", p.Refused)
			}
			var order, actions []string
			for _, s := range p.Steps {
				order, actions = append(order, s.Member), append(actions, s.Action)
			}
			if strings.Join(order, ",") != strings.Join(tt.order, ",") || strings.Join(actions, ",") != strings.Join(tt.actions, ",") {
				t.Errorf("steps %v %v, want %v %v", order, actions, tt.order, tt.actions)
			}
			if !strings.Contains(p.Waits, tt.waits) || (tt.waits == "" && p.Waits != "") {
				t.Errorf("waits %q, want %q", p.Waits, tt.waits)
			}
			if last := p.Steps[len(p.Steps)-1]; last.Member != tt.c.Leader || !last.Leader {
				t.Errorf("last step %+v is not the leader %s", last, tt.c.Leader)
			}
		})
	}
}
