// Package bootstrap is the on-boot agent's logic: it loads the node payload,
// firewalls the node, discovers peers, decides what the member must do (new,
// join, restart, rejoin, restore: Decide in plan.go, a pure function), writes
// etcd's configuration (internal/etcdconfig's, shared with the audit),
// starts etcd under systemd or as a supervised child, and waits until the
// member is ready. Each step takes what the steps before it produced and
// returns what it produces (upState in up.go); the decisions within steps are
// pure functions beside them. Every step is recorded in a journal so that a
// rerun after a crash resumes instead of redoing.
package bootstrap
