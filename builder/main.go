// Command packer-plugin-etcdboot is the etcdboot Packer plugin: the
// "etcdboot" provisioner bakes etcdboot-agent, etcd and the systemd units into
// any image and hardens it for cloning; the "etcdboot-payload" data source
// renders a node's user-data inside a template; the "etcdboot-rootfs" builder
// makes a Debian root file system with mmdebstrap and provisions it in a chroot.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/etcdboot/etcdboot/builder/builder/rootfs"
	"github.com/etcdboot/etcdboot/builder/datasource/payload"
	"github.com/etcdboot/etcdboot/builder/provisioner/etcdboot"
	"github.com/etcdboot/etcdboot/builder/version"
)

func main() {
	pps := plugin.NewSet()
	pps.RegisterBuilder("rootfs", new(rootfs.Builder))
	pps.RegisterProvisioner(plugin.DEFAULT_NAME, new(etcdboot.Provisioner))
	pps.RegisterDatasource("payload", new(payload.Datasource))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
