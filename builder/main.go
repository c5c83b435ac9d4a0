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
