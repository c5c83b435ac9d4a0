//go:build chaos_no_quorum_guard

package bootstrap

// skipQuorumGuard: this is the chaos suite's deliberately broken agent
// (built with the chaos_no_quorum_guard tag, never shipped). See
// quorumguard.go.
const skipQuorumGuard = true
