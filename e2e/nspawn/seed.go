package nspawn

import (
	"fmt"
	"strings"
)

// cloudCfgPath is the machine's cloud-init configuration drop-in.
const cloudCfgPath = "etc/cloud/cloud.cfg.d/90-etcdboot-nspawn.cfg"

// cloudCfg is what a hypervisor's platform would otherwise tell cloud-init:
// which data source to read (ds-identify finds nothing to identify in a
// container) and that the network is already configured (the netlab
// namespace has its address; cloud-init must not rewrite it).
func cloudCfg(datasource string) string {
	var b strings.Builder
	b.WriteString("# Written by the image e2e tests: a container has no platform to identify.\n")
	b.WriteString("datasource_list: [NoCloud, None]\n")
	b.WriteString("network: {config: disabled}\n")
	b.WriteString(datasource)
	return b.String()
}

// metaData is a NoCloud meta-data document.
func metaData(instanceID, hostname string) string {
	return fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", instanceID, hostname)
}

// SeedNoCloud gives the machine a NoCloud seed on its disk, the way a
// cloud-init image is seeded without a metadata service: user-data and
// meta-data in /var/lib/cloud/seed/nocloud/.
func (m *Machine) SeedNoCloud(userData []byte, instanceID, hostname string) error {
	if err := m.WriteFile("var/lib/cloud/seed/nocloud/user-data", userData, 0o600); err != nil {
		return err
	}
	if err := m.WriteFile("var/lib/cloud/seed/nocloud/meta-data", []byte(metaData(instanceID, hostname)), 0o600); err != nil {
		return err
	}
	return m.WriteFile(cloudCfgPath, []byte(cloudCfg("")), 0o644)
}

// SeedNoCloudNet points cloud-init's NoCloud data source at a URL it fetches
// user-data, meta-data and vendor-data from: what the kernel argument
// ds=nocloud-net;s=URL says on a PXE-booted machine, given as configuration
// because a container shares the host's kernel command line.
func (m *Machine) SeedNoCloudNet(seedURL string) error {
	if !strings.HasSuffix(seedURL, "/") {
		return fmt.Errorf("nspawn: %s: NoCloud seed URL %q must end in '/'", m.opts.Name, seedURL)
	}
	return m.WriteFile(cloudCfgPath, []byte(cloudCfg(fmt.Sprintf("datasource:\n  NoCloud:\n    seedfrom: %s\n", seedURL))), 0o644)
}
