package testcluster

import (
	"fmt"
	"os"
	"time"
)

// ReplaceNode is what an autoscaling group does with a dead instance:
// dead's agent and etcd are killed and its disk goes with it, and a fresh
// instance on host boots the launch payload with agentArgs. It returns the
// new node once its agent journals the healthy step, within two minutes.
func (c *Cluster) ReplaceNode(dead *Node, host int, agentArgs ...string) (*Node, error) {
	if err := dead.Kill(); err != nil {
		return nil, fmt.Errorf("kill %s: %w", dead.Name, err)
	}
	if err := os.RemoveAll(dead.DataDir()); err != nil {
		return nil, fmt.Errorf("wipe %s's data dir: %w", dead.Name, err)
	}
	c.Remove(dead)
	fresh, err := c.AddNode(host)
	if err != nil {
		return nil, err
	}
	if err := fresh.StartAgent(agentArgs...); err != nil {
		return fresh, err
	}
	return fresh, fresh.WaitHealthy(2 * time.Minute)
}
