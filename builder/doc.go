// Command packer-plugin-etcdboot is the etcdboot Packer plugin: the
// "etcdboot" provisioner bakes etcdboot-agent, etcd and the systemd units into
// any image and hardens it for cloning; the "etcdboot-payload" data source
// renders a node's user-data inside a template; the "etcdboot-rootfs" builder
// makes a Debian root file system with mmdebstrap and provisions it in a chroot.
package main
