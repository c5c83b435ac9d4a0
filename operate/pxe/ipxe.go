package pxe

import (
	"fmt"
	"strings"
)

// BootScript is served at /boot.ipxe, the one URL every machine's DHCP
// answer (or embedded iPXE script) names. It hands iPXE's view of the machine
// to /ipxe, which answers with that machine's own script. The URL is relative
// so that it resolves against wherever this script came from, reverse proxy
// prefixes and https included.
const BootScript = `#!ipxe
# etcdboot: fetch this machine's own boot script, chosen by MAC, UUID or hostname
chain ipxe?mac=${mac:hexhyp}&uuid=${uuid}&hostname=${hostname}
`

// osNames are the names scripts use in their comment line.
var osNames = map[string]string{
	OSFedoraCoreOS: "Fedora CoreOS",
	OSFlatcar:      "Flatcar Container Linux",
	OSDebian:       "Debian with cloud-init",
}

// Script renders the iPXE script that boots m: its profile's kernel and
// initrds, and the kernel arguments that make the OS fetch m's payload from
// baseURL (no trailing slash) by the identifier that selected m, which iPXE
// fills in on the machine.
func Script(m *Machine, baseURL string) (string, error) {
	p := m.Profile
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("machine %s (node %s): profile: %w", m.Selector, m.Node, err)
	}
	if p.Kernel == "" {
		return "", fmt.Errorf("machine %s (node %s): profile has no kernel", m.Selector, m.Node)
	}
	abs := func(u string) string {
		if strings.HasPrefix(u, "/") {
			return baseURL + u
		}
		return u
	}
	names := make([]string, len(p.Initrd))
	args := []string{abs(p.Kernel)}
	for i := range p.Initrd {
		// Named initrds, and initrd=<name> for each, are what a UEFI kernel's
		// EFI stub needs to find them; BIOS boots ignore the argument.
		names[i] = "main"
		if i > 0 {
			names[i] = fmt.Sprintf("initrd%d", i)
		}
		args = append(args, "initrd="+names[i])
	}
	id := m.Selector.Key
	payloadQuery := string(id) + "=" + id.ipxeSetting()
	mode := "live"
	switch p.OS {
	case OSFedoraCoreOS:
		if p.RootFS != "" {
			args = append(args, "coreos.live.rootfs_url="+abs(p.RootFS))
		}
		ignitionURL := baseURL + "/ignition?" + payloadQuery
		if p.InstallDevice != "" {
			mode = "install to " + p.InstallDevice
			args = append(args, "coreos.inst.install_dev="+p.InstallDevice, "coreos.inst.ignition_url="+ignitionURL)
		} else {
			args = append(args, "ignition.firstboot", "ignition.platform.id=metal", "ignition.config.url="+ignitionURL)
		}
	case OSFlatcar:
		args = append(args, "flatcar.first_boot=1", "ignition.config.url="+baseURL+"/ignition?"+payloadQuery)
	case OSDebian:
		if p.RootFS != "" {
			args = append(args, "fetch="+abs(p.RootFS))
		}
		args = append(args, "ds=nocloud-net;s="+baseURL+"/cloud-init/"+id.ipxeSetting()+"/")
	}
	args = append(args, p.Args...)

	var b strings.Builder
	b.WriteString("#!ipxe\n")
	fmt.Fprintf(&b, "# etcdboot: node %s, %s (%s), %s payload by %s\n", m.Node, osNames[p.OS], mode, p.Format, id)
	b.WriteString("kernel " + strings.Join(args, " ") + "\n")
	for i, u := range p.Initrd {
		b.WriteString("initrd --name " + names[i] + " " + abs(u) + "\n")
	}
	b.WriteString("boot\n")
	return b.String(), nil
}
