// Package payload is the "etcdboot-payload" Packer data source: it runs the
// etcdboot generator (generate.Run) on a cluster spec and hands one node's
// user-data, or the autoscaling group's launch payload, to the template as
// cloud-init or Ignition.
package payload
