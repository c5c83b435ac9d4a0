# A member VM image (qcow2) from Debian's generic cloud image, baked in QEMU
# with the etcdboot provisioner over SSH. Not built by CI (it needs KVM or a
# long TCG run and the Debian cloud image); `make packer-validate` checks it.
#
#   packer init images/packer/qemu.pkr.hcl
#   packer build images/packer/qemu.pkr.hcl
#
# The build VM logs in with a throwaway key from a cloud-init seed; the
# etcdboot provisioner removes the SSH host keys and machine-id before
# capture. Each member then boots the image with its own NoCloud seed, made
# from the user-data the etcdboot-payload data source renders.

packer {
  required_version = ">= 1.9.4"
  required_plugins {
    etcdboot = {
      version = ">= 0.1.0"
      source  = "github.com/etcdboot/etcdboot"
    }
    qemu = {
      version = ">= 1.0.9"
      source  = "github.com/hashicorp/qemu"
    }
  }
}

variable "cloud_image_url" {
  type    = string
  default = "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2"
}

variable "cloud_image_checksum" {
  type    = string
  default = "file:https://cloud.debian.org/images/cloud/bookworm/latest/SHA512SUMS"
}

variable "accelerator" {
  type        = string
  default     = "kvm"
  description = "kvm, or tcg where there is no /dev/kvm (slow)."
}

variable "ssh_password" {
  type        = string
  default     = "etcdboot-build"
  sensitive   = true
  description = "Password of the build VM's login user; it exists only during the build."
}

variable "cluster_spec" {
  type    = string
  default = ""
}

variable "out_dir" {
  type    = string
  default = ""
}

variable "bin_dir" {
  type    = string
  default = ""
}

locals {
  repo    = "${path.root}/../.."
  bin_dir = var.bin_dir != "" ? var.bin_dir : "${local.repo}/bin"
  out_dir = var.out_dir != "" ? var.out_dir : "${local.repo}/out/packer-qemu"
}

# Every member's user-data is written under out_dir/nodes/<name>/user-data;
# this names the members and is used by the post-processor below.
data "etcdboot-payload" "cluster" {
  cluster_spec = var.cluster_spec != "" ? var.cluster_spec : "${path.root}/../../examples/three-node-static/cluster.yaml"
  out_dir      = var.out_dir != "" ? var.out_dir : "${path.root}/../../out/packer-qemu"
  node         = "etcd1"
}

source "qemu" "debian" {
  iso_url          = var.cloud_image_url
  iso_checksum     = var.cloud_image_checksum
  disk_image       = true
  disk_size        = "20G"
  format           = "qcow2"
  accelerator      = var.accelerator
  memory           = 2048
  cpus             = 1
  headless         = true
  output_directory = "${local.out_dir}/image"
  vm_name          = "etcdboot-member.qcow2"
  # The build VM's own seed: a login for Packer, nothing of the cluster.
  cd_label = "cidata"
  cd_content = {
    "meta-data" = "instance-id: etcdboot-build\n"
    "user-data" = <<-EOT
      #cloud-config
      ssh_pwauth: true
      chpasswd:
        expire: false
        users:
          - name: debian
            password: ${var.ssh_password}
            type: text
    EOT
  }
  communicator     = "ssh"
  ssh_username     = "debian"
  ssh_password     = var.ssh_password
  ssh_timeout      = "15m"
  shutdown_command = "sudo -n shutdown -P now"
}

build {
  sources = ["source.qemu.debian"]

  provisioner "etcdboot" {
    agent_path      = "${local.bin_dir}/etcdboot-agent"
    etcd_path       = "${local.bin_dir}/etcd"
    etcd_version    = "3.6.16"
    execute_command = "sudo -n /bin/sh {{.Path}}"
  }

  # One NoCloud seed per member beside the image (cloud-localds is in
  # Debian's cloud-image-utils).
  post-processor "shell-local" {
    inline = [
      "for n in ${join(" ", data.etcdboot-payload.cluster.nodes)}; do printf 'instance-id: %s\\n' $n > ${local.out_dir}/nodes/$n/meta-data; cloud-localds ${local.out_dir}/image/seed-$n.iso ${local.out_dir}/nodes/$n/user-data ${local.out_dir}/nodes/$n/meta-data; done",
    ]
  }
}
