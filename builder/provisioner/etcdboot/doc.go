// Package etcdboot is the "etcdboot" Packer provisioner: it uploads
// etcdboot-agent, etcd, etcdctl, etcdutl and the systemd units of the images
// package through any communicator, creates the etcd user and enables the
// units, then strips everything that must differ between clones (machine-id,
// SSH host keys, etcd data, payloads, keys) and fails the build if any remains.
package etcdboot
