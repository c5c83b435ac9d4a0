// Package maintenance is the cluster's maintenance round (`etcdboot-agent
// defrag`, run by etcdboot-defrag.timer on every member, and by the watcher
// when etcd raises NOSPACE). A round observes every member (database size
// and size in use, leader, learners, alarms, health), lets Decide, a pure
// function, say why it skips or which members to defragment in which order,
// and under the cluster-wide lock defragments them one at a time: followers
// first, the leader last after moving leadership away, each answering
// healthy again before the next. A NOSPACE alarm is healed: compaction to the
// current revision minus the spec's retention, every member defragmented,
// the alarm disarmed once each database is below the quota with margin.
// Rounds are recorded in a state file the agent's metrics export.
package maintenance
