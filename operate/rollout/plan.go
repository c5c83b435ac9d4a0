package rollout

import (
	"fmt"
	"slices"
	"strings"

	"github.com/etcdboot/etcdboot/internal/upgrade"
)

// Step is one member's part in a roll.
type Step struct {
	Member string `json:"member"`
	From   string `json:"from"`
	To     string `json:"to"`
	Leader bool   `json:"leader,omitempty"`
	// Action is upgrade.ActionUpgrade for a member that changes release,
	// "none" for one already on the target.
	Action string `json:"action"`
	Note   string `json:"note,omitempty"`
}

// Plan is what a roll to Target takes.
type Plan struct {
	ClusterVersion string `json:"clusterVersion"`
	Target         string `json:"target"`
	Steps          []Step `json:"steps"`
	// Refused says why the roll cannot be taken as one step; empty when it can.
	Refused string `json:"refused,omitempty"`
	// Waits lists what must clear before the first member may change.
	Waits string `json:"waits,omitempty"`
}

// planSteps simulates the roll member by member with the rules each agent
// applies: followers in name order, then the leader; each member's Decide
// sees the members before it already on the target. It is pure.
func planSteps(c upgrade.Cluster, to upgrade.Version) Plan {
	p := Plan{Target: to.String()}
	if !c.Version.IsZero() {
		p.ClusterVersion = c.Version.MinorString()
	}
	order := slices.Clone(c.Members)
	slices.SortFunc(order, func(a, b upgrade.Member) int {
		switch {
		case a.Name == c.Leader && b.Name != c.Leader:
			return 1
		case b.Name == c.Leader && a.Name != c.Leader:
			return -1
		}
		return strings.Compare(a.Name, b.Name)
	})
	sim := c
	sim.Members = slices.Clone(c.Members)
	for _, m := range order {
		step := Step{Member: m.Name, From: m.Server.String(), To: to.String(), Leader: m.Name == c.Leader}
		if m.Server == to {
			step.Action = "none"
			step.Note = "already on the target"
			p.Steps = append(p.Steps, step)
			continue
		}
		data := upgrade.LiveDataVersion(m, c)
		o := upgrade.Observed{Binary: to, Data: data, LastRun: m.Server, Cluster: withSelfDown(sim, m.Name), Self: m.Name, SelfRunning: m.Healthy}
		d := upgrade.Decide(o)
		switch d.Action {
		case upgrade.ActionRefuse:
			p.Refused = fmt.Sprintf("%s: %s", m.Name, d.Reason)
			return p
		case upgrade.ActionWait:
			if p.Waits == "" {
				p.Waits = d.Reason
			}
		}
		step.Action = string(upgrade.ActionUpgrade)
		if step.Leader {
			step.Note = "leader: its agent moves leadership away first"
		}
		p.Steps = append(p.Steps, step)
		for i := range sim.Members {
			if sim.Members[i].Name == m.Name {
				sim.Members[i].Server, sim.Members[i].Storage, sim.Members[i].Healthy = to, upgrade.Version{}, true
			}
		}
	}
	return p
}

// withSelfDown is the cluster as a member sees it while it restarts.
func withSelfDown(c upgrade.Cluster, self string) *upgrade.Cluster {
	out := c
	out.Members = slices.Clone(c.Members)
	for i := range out.Members {
		if out.Members[i].Name == self {
			out.Members[i].Healthy = false
		}
	}
	return &out
}
