// Package ignition renders one node's payload (node.yaml, its certificates and
// keys, /etc/hosts entries, the etcd system user and the agent unit) as
// first-boot user-data: a Butane config translated to Ignition JSON and checked
// by Ignition's own parser, or a cloud-init #cloud-config checked by the real
// `cloud-init schema`. Both renderings are deterministic and must fit the
// clouds' 16,384-byte user-data limit.
package ignition
