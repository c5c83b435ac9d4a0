// Package upgrade decides whether a member may start the etcd binary its
// image carries, given what that binary is, what its data dir was written
// by and what the running cluster reports. It owns etcd's upgrade rules as
// upstream states them: one minor version at a time, 3.5 to 3.6 only from
// 3.5.26 on (older 3.5 members can bring removed members back as zombies),
// no downgrade unless etcd's downgrade procedure has enabled it, and a
// member that upgrades over its own data waits until every voter is
// healthy, no alarm is raised and no learner is pending. Decide is pure and
// table-tested; Observe* gather its inputs (etcd --version, the data dir's
// storage version from bbolt, the members' versions); the agent acts on the
// decision under its cluster-wide lock and journals it.
package upgrade
