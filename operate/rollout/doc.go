// Package rollout plans and steers etcd version changes of a running
// cluster from the operator's desk: Plan checks the cluster against etcd's
// upgrade rules (package upgrade, the same rules each member's agent
// applies at boot) and lists the steps a roll to a target release takes,
// followers first and the leader last, or why it cannot be taken; Downgrade
// runs etcd's own downgrade procedure (validate, enable) so that members may
// then restart onto an image with the older release. The rolling itself is
// done by the agents, one member at a time, under their cluster-wide lock.
package rollout
