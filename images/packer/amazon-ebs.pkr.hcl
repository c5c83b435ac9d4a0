# An AMI for an autoscaling group of etcd members, baked from Debian 12's
# official AMI with the etcdboot provisioner. Not built by CI (it needs AWS
# credentials); `make packer-validate` checks it.
#
#   packer init images/packer/amazon-ebs.pkr.hcl
#   packer build -var region=eu-west-1 images/packer/amazon-ebs.pkr.hcl
#
# The group's launch payload (intermediate CA, no member certificates) is
# rendered by the etcdboot-payload data source and recorded in the Packer
# manifest, for the launch template's user_data.

packer {
  required_version = ">= 1.9.4"
  required_plugins {
    etcdboot = {
      version = ">= 0.1.0"
      source  = "github.com/etcdboot/etcdboot"
    }
    amazon = {
      version = ">= 1.2.1"
      source  = "github.com/hashicorp/amazon"
    }
  }
}

variable "region" {
  type    = string
  default = "eu-west-1"
}

variable "instance_type" {
  type    = string
  default = "t3.small"
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
  repo      = "${path.root}/../.."
  bin_dir   = var.bin_dir != "" ? var.bin_dir : "${local.repo}/bin"
  out_dir   = var.out_dir != "" ? var.out_dir : "${local.repo}/out/packer-amazon"
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
}

# No node: the autoscaling spec's one launch payload, shared by the group.
data "etcdboot-payload" "launch" {
  cluster_spec = var.cluster_spec != "" ? var.cluster_spec : "${path.root}/../../examples/autoscaling/cluster.yaml"
  out_dir      = var.out_dir != "" ? var.out_dir : "${path.root}/../../out/packer-amazon"
  format       = "cloud-init"
}

source "amazon-ebs" "debian" {
  region        = var.region
  instance_type = var.instance_type
  ami_name      = "etcdboot-member-${local.timestamp}"
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["136693071363"] # Debian
    most_recent = true
  }
  ssh_username = "admin"
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = 20
    volume_type           = "gp3"
    delete_on_termination = true
  }
  tags = {
    Name     = "etcdboot-member"
    etcdboot = "member"
  }
}

build {
  sources = ["source.amazon-ebs.debian"]

  provisioner "etcdboot" {
    agent_path      = "${local.bin_dir}/etcdboot-agent"
    etcd_path       = "${local.bin_dir}/etcd"
    etcd_version    = "3.6.16"
    execute_command = "sudo -n /bin/sh {{.Path}}"
  }

  post-processor "manifest" {
    output = "${local.out_dir}/packer-manifest.json"
    custom_data = {
      launch_user_data = data.etcdboot-payload.launch.user_data
    }
  }
}
