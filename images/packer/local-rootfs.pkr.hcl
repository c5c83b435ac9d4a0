# A member image built on this machine: a Debian root file system made by
# mmdebstrap, with etcdboot-agent, etcd and the units baked in by the etcdboot
# provisioner and hardened for cloning. This is the template CI builds
# (make image); the result boots under systemd-nspawn or as a raw disk.
#
#   make etcd build plugin          # bin/etcd*, bin/etcdboot-agent, the plugin
#   sudo -E bin/packer build images/packer/local-rootfs.pkr.hcl
#
# Needs root (mmdebstrap, chroot), mmdebstrap and e2fsprogs. The Debian mirror
# defaults to this host's apt source for the suite.

packer {
  required_version = ">= 1.9.4"
  required_plugins {
    etcdboot = {
      version = ">= 0.1.0"
      source  = "github.com/etcdboot/etcdboot"
    }
  }
}

variable "bin_dir" {
  type        = string
  default     = ""
  description = "Directory with etcd, etcdctl, etcdutl and etcdboot-agent; default the repository's bin/."
}

variable "output_dir" {
  type        = string
  default     = ""
  description = "Where rootfs/, manifest.json and the exports go; default out/image/local-rootfs in the repository."
}

variable "etcd_version" {
  type        = string
  default     = "3.6.16"
  description = "The etcd release the image must carry (make etcd ETCD_VERSION=v...)."
}

variable "mirror" {
  type        = string
  default     = ""
  description = "Debian mirror URI; empty means this host's apt source for the suite."
}

variable "suite" {
  type    = string
  default = "bookworm"
}

variable "tarball" {
  type    = bool
  default = true
}

variable "raw_image" {
  type    = bool
  default = false
}

variable "extra_packages" {
  type        = list(string)
  default     = []
  description = "Debian packages installed besides cloud-init and netbase, e.g. a kernel for a VM (scripts/e2e-vm.sh)."
}

locals {
  repo       = "${path.root}/../.."
  bin_dir    = var.bin_dir != "" ? var.bin_dir : "${local.repo}/bin"
  output_dir = var.output_dir != "" ? var.output_dir : "${local.repo}/out/image/local-rootfs"
}

source "etcdboot-rootfs" "debian" {
  mirror     = var.mirror
  suite      = var.suite
  output_dir = local.output_dir
  tarball    = var.tarball
  raw_image  = var.raw_image
  # cloud-init reads the node payload from a NoCloud seed (or a cloud's
  # metadata service) on first boot; netbase gives Go /etc/services.
  packages = concat(["cloud-init", "netbase"], var.extra_packages)
}

build {
  sources = ["source.etcdboot-rootfs.debian"]

  provisioner "etcdboot" {
    agent_path   = "${local.bin_dir}/etcdboot-agent"
    etcd_path    = "${local.bin_dir}/etcd"
    etcd_version = var.etcd_version
  }

  # The image has no locales package: cloud-init's default locale
  # (en_US.UTF-8) would fail its locale module, and so cloud-init, on every
  # first boot. The image keeps the C.UTF-8 that libc carries. "false" as a
  # string: cloud-init's schema wants a string, and its locale module skips
  # on any false-like value.
  provisioner "shell" {
    inline = ["printf 'locale: \"false\"\\n' > /etc/cloud/cloud.cfg.d/10-etcdboot-locale.cfg"]
  }
}
