// Package chaos proves an autoscaling group under random faults: from a
// seed, a schedule of faults (SIGKILL and restart, kill and wipe with a
// replacement on a new address, a replacement that boots the systemd way
// with its etcd started late, nftables partitions of a member, the leader
// or a joiner, two joiners at once, leave and add back) runs against real
// agents and real etcd in a netlab while clients put, get, delete and
// compare-and-swap against random members. At the end the client history
// must be linearizable (porcupine), every acknowledged write must still be
// there, the group must have converged to one cluster of its size, and
// every node's nftables peer set must hold exactly the members.
//
// TestChaosCatchesABrokenAgent runs the same faults with an agent built
// with the chaos_no_quorum_guard tag, which removes members without its
// quorum guard, and must see a violation: the checks can fail.
//
// The tests are in the _test.go files; `make chaos` runs the long set. A
// seed replays its schedule: ETCDBOOT_CHAOS_SEED=N go test -run TestChaos ./e2e/chaos/.
package chaos
