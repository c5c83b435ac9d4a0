# Bakes etcdboot into a machine that already runs, over SSH: a VM booted from
# any cloud's stock image, snapshotted afterwards with that cloud's tools.
# Packer's built-in "null" builder only connects; the etcdboot provisioner does
# the work and leaves the machine ready to be captured (no machine-id, host
# keys, etcd data or keys). The etcdboot-payload data source renders each
# member's cloud-init user-data from the cluster spec, for the launch step.
#
#   bin/packer build -var host=203.0.113.10 -var ssh_private_key_file=~/.ssh/id_ed25519 \
#     images/packer/generic-cloud.pkr.hcl

packer {
  required_version = ">= 1.9.4"
  required_plugins {
    etcdboot = {
      version = ">= 0.1.0"
      source  = "github.com/etcdboot/etcdboot"
    }
  }
}

variable "host" {
  type        = string
  default     = "192.0.2.10"
  description = "Address of the running machine to bake."
}

variable "ssh_username" {
  type    = string
  default = "debian"
}

variable "ssh_private_key_file" {
  type        = string
  default     = ""
  description = "Private key for ssh_username; empty means use the SSH agent."
}

variable "cluster_spec" {
  type    = string
  default = ""
}

variable "out_dir" {
  type        = string
  default     = ""
  description = "Receives the generated PKI (with the CA key) and payloads; keep it out of the image."
}

variable "bin_dir" {
  type    = string
  default = ""
}

locals {
  repo    = "${path.root}/../.."
  bin_dir = var.bin_dir != "" ? var.bin_dir : "${local.repo}/bin"
  out_dir = var.out_dir != "" ? var.out_dir : "${local.repo}/out/packer-generic-cloud"
}

# Packer 1.9 evaluates data sources before locals: only variables and
# path.root here.
data "etcdboot-payload" "etcd1" {
  cluster_spec = var.cluster_spec != "" ? var.cluster_spec : "${path.root}/../../examples/three-node-static/cluster.yaml"
  out_dir      = var.out_dir != "" ? var.out_dir : "${path.root}/../../out/packer-generic-cloud"
  node         = "etcd1"
  format       = "cloud-init"
}

source "null" "existing" {
  communicator         = "ssh"
  ssh_host             = var.host
  ssh_username         = var.ssh_username
  ssh_private_key_file = var.ssh_private_key_file
  ssh_agent_auth       = var.ssh_private_key_file == ""
}

build {
  sources = ["source.null.existing"]

  provisioner "etcdboot" {
    agent_path      = "${local.bin_dir}/etcdboot-agent"
    etcd_path       = "${local.bin_dir}/etcd"
    etcd_version    = "3.6.16"
    execute_command = "sudo -n /bin/sh {{.Path}}"
  }

  # What to launch the captured image with: one user-data per member, here
  # etcd1's; the generator also wrote every member's under out_dir/nodes/.
  post-processor "manifest" {
    output = "${local.out_dir}/packer-manifest.json"
    custom_data = {
      members        = join(",", data.etcdboot-payload.etcd1.nodes)
      etcd1_node_dir = data.etcdboot-payload.etcd1.node_dir
      etcd1_bytes    = length(data.etcdboot-payload.etcd1.user_data)
    }
  }
}
