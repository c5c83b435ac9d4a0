// Package snapshot takes, checks and restores etcd snapshots: Save streams
// Maintenance.Snapshot from one member to a file and verifies it before it
// replaces anything, Status reads a snapshot file the way `etcdutl snapshot
// status` does and refuses truncated or corrupt ones, and Restore turns a
// hash-checked snapshot into a new member data dir with etcdutl's library.
package snapshot
