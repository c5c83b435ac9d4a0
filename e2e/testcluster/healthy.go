package testcluster

import (
	"fmt"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
)

// HealthyAt is when the agent journaled the healthy step of its current
// run: the moment its member answered ready, free of WaitHealthy's polling.
func (n *Node) HealthyAt() (time.Time, error) {
	st, err := n.Journal()
	if err != nil {
		return time.Time{}, err
	}
	for _, r := range st.Done {
		if r.Step == bootstrap.StepHealthy && !r.At.Before(n.started) {
			return r.At, nil
		}
	}
	return time.Time{}, fmt.Errorf("no healthy step in %s's journal since %s", n.Name, n.started.Format(time.RFC3339Nano))
}

// HealthyAt is when the last node's agent journaled its healthy step.
func (c *Cluster) HealthyAt() (time.Time, error) {
	var last time.Time
	for _, n := range c.Nodes {
		at, err := n.HealthyAt()
		if err != nil {
			return time.Time{}, err
		}
		if at.After(last) {
			last = at
		}
	}
	return last, nil
}
