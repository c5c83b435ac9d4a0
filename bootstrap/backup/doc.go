// Package backup is a member's scheduled backup round (`etcdboot-agent
// backup`, run by etcdboot-backup.timer): it decides whether this member is
// the round's writer (Decide, pure: the leader, or the member the payload
// names), streams a snapshot into the target directory, verifies it, test-
// restores it on request, uploads it to backup.target as a complete backup
// (internal/backupstore: object, sha256, manifest) and applies retention
// there, prunes snapshots beyond retention, runs the upload hook, and
// records the outcome, uploads included, in a state file the agent's
// metrics export.
package backup
