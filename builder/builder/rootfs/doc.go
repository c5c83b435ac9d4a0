// Package rootfs is the "etcdboot-rootfs" Packer builder: a Debian root file
// system made by mmdebstrap on the build host, provisioned in a chroot through
// the SDK's chroot communicator, and exported as a directory, a tarball and
// optionally a raw ext4 image, with a manifest.json of sizes and digests.
package rootfs
