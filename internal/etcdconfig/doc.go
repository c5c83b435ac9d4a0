// Package etcdconfig owns a member's etcd configuration: Member derives it,
// as one pure function, from the node payload, the cluster it starts with,
// its addresses and the etcd minor version; Config renders it as the classic
// ETCD_* environment file or as an etcd --config-file document. The on-boot
// agent writes what it renders and `etcdboot audit` audits the same thing.
package etcdconfig
