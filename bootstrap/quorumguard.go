//go:build !chaos_no_quorum_guard

package bootstrap

// skipQuorumGuard is false in every real build. The chaos suite builds a
// deliberately broken agent with the chaos_no_quorum_guard tag, whose joins
// remove a voter of a full group without asking whether it answers or
// whether quorum survives, to show that its checks catch such an agent.
const skipQuorumGuard = false
