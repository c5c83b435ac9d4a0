// Package images holds what a member's image carries besides binaries: the
// systemd units that run etcdboot-agent and etcd, and the backup and
// maintenance timers (with the drop-ins that set their intervals), embedded
// so the Packer provisioner installs exactly the bytes that are tested here.
package images
