// Package images holds what a member's image carries besides binaries: the
// systemd units that run etcdboot-agent and etcd and the backup timer (with
// the drop-in that sets its interval), embedded so the Packer
// provisioner installs exactly the bytes that are tested here.
package images
