// Package status asks a running etcd cluster how it is: per-endpoint health
// (a linearizable read, the way `etcdctl endpoint health` checks it), each
// member's Maintenance.Status and the member list, over mTLS with etcd's
// client/v3. It renders the answer as one table, like `etcdctl endpoint
// health -w table` and `endpoint status -w table` side by side, or as JSON.
package status
