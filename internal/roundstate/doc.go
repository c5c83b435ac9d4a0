// Package roundstate owns the state files of the agent's scheduled rounds
// (backups, maintenance): a JSON file in the agent's state dir that a round
// updates atomically once it ended, that an operator reads with cat and
// that the watcher follows to export metrics; and the lock that keeps a
// timer's round and a manual one from running at once. What a state holds
// and how a round changes it belong to each round's package.
package roundstate
