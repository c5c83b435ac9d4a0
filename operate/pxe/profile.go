package pxe

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/etcdboot/etcdboot/spec"
)

// Operating systems a profile boots.
const (
	// OSFedoraCoreOS boots the Fedora CoreOS live PXE image, which runs
	// Ignition (or, with InstallDevice, installs to disk first).
	OSFedoraCoreOS = "fcos"
	// OSFlatcar boots Flatcar's PXE image, which runs Ignition.
	OSFlatcar = "flatcar"
	// OSDebian boots a Debian (or Ubuntu) live image with cloud-init, seeded
	// over HTTP by the NoCloud datasource.
	OSDebian = "debian"
)

// Profile is how a machine boots: which kernel and initrds, which kernel
// arguments besides the ones that fetch its payload, and which payload
// format. URLs that begin with "/" are relative to the server's base URL
// (its /assets/ when Config.AssetsDir is set).
type Profile struct {
	// OS is fcos, flatcar or debian; it decides the kernel arguments that
	// make the machine fetch its payload.
	OS string `yaml:"os,omitempty"`
	// Format is the payload the OS reads: ignition (fcos, flatcar) or
	// cloud-init (debian).
	Format string `yaml:"format,omitempty"`
	// Kernel is the kernel's URL. Left empty, Kernel, Initrd and RootFS all
	// take the OS's defaults under /assets/.
	Kernel string `yaml:"kernel,omitempty"`
	// Initrd are the initramfs URLs, in order.
	Initrd []string `yaml:"initrd,omitempty"`
	// RootFS is the live root file system: coreos.live.rootfs_url for fcos,
	// live-boot's fetch= for debian; flatcar has none.
	RootFS string `yaml:"rootfs,omitempty"`
	// Args are extra kernel arguments, e.g. console=ttyS0,115200n8.
	Args []string `yaml:"args,omitempty"`
	// InstallDevice makes fcos install to this disk (coreos.inst.install_dev)
	// and hand the Ignition config to the installed system
	// (coreos.inst.ignition_url) instead of running live.
	InstallDevice string `yaml:"installDevice,omitempty"`
}

// DefaultOS returns the OS a machine with payload format boots when its
// profile names none: Fedora CoreOS for Ignition, Debian for cloud-init.
func DefaultOS(format string) string {
	if format == spec.FormatCloudInit {
		return OSDebian
	}
	return OSFedoraCoreOS
}

// DefaultProfile returns the built-in profile of os: its format and the
// kernel, initrd and root file system under /assets/<os>/, named as the
// distribution names them (Fedora CoreOS's without the version).
func DefaultProfile(os string) Profile {
	switch os {
	case OSFedoraCoreOS:
		return Profile{
			OS:     OSFedoraCoreOS,
			Format: spec.FormatIgnition,
			Kernel: "/assets/fedora-coreos/fedora-coreos-live-kernel-x86_64",
			Initrd: []string{"/assets/fedora-coreos/fedora-coreos-live-initramfs.x86_64.img"},
			RootFS: "/assets/fedora-coreos/fedora-coreos-live-rootfs.x86_64.img",
		}
	case OSFlatcar:
		return Profile{
			OS:     OSFlatcar,
			Format: spec.FormatIgnition,
			Kernel: "/assets/flatcar/flatcar_production_pxe.vmlinuz",
			Initrd: []string{"/assets/flatcar/flatcar_production_pxe_image.cpio.gz"},
		}
	case OSDebian:
		return Profile{
			OS:     OSDebian,
			Format: spec.FormatCloudInit,
			Kernel: "/assets/debian/vmlinuz",
			Initrd: []string{"/assets/debian/initrd.img"},
			RootFS: "/assets/debian/filesystem.squashfs",
			Args:   []string{"boot=live", "ip=dhcp"},
		}
	}
	return Profile{}
}

// formatOf is the payload format os reads.
func formatOf(os string) string {
	if os == OSDebian {
		return spec.FormatCloudInit
	}
	return spec.FormatIgnition
}

// ownedArgs are the kernel arguments the server writes itself for each OS;
// a profile that set them too would boot with two conflicting values.
var ownedArgs = map[string][]string{
	OSFedoraCoreOS: {"initrd", "coreos.live.rootfs_url", "ignition.firstboot", "ignition.platform.id", "ignition.config.url", "coreos.inst.install_dev", "coreos.inst.ignition_url"},
	OSFlatcar:      {"initrd", "flatcar.first_boot", "ignition.config.url", "flatcar.config.url"},
	OSDebian:       {"initrd", "fetch", "ds"},
}

// resolve fills what p leaves out: the format from the OS, the OS from the
// format (nodeFormat when p names neither), and kernel, initrds and root file
// system from DefaultProfile when p names no kernel; the default image's own
// arguments then come first, p's after them.
func (p Profile) resolve(nodeFormat string) (Profile, error) {
	switch {
	case p.OS == "" && p.Format == "":
		p.Format = nodeFormat
		p.OS = DefaultOS(nodeFormat)
	case p.OS == "":
		p.OS = DefaultOS(p.Format)
	case p.Format == "":
		p.Format = formatOf(p.OS)
	}
	if err := p.validate(); err != nil {
		return p, err
	}
	if p.Kernel == "" {
		d := DefaultProfile(p.OS)
		p.Kernel, p.Initrd, p.RootFS = d.Kernel, d.Initrd, d.RootFS
		p.Args = append(slices.Clip(d.Args), p.Args...)
	}
	return p, nil
}

// validate reports every problem with p at once.
func (p Profile) validate() error {
	var errs []error
	switch p.OS {
	case OSFedoraCoreOS, OSFlatcar, OSDebian:
		if p.Format != formatOf(p.OS) {
			errs = append(errs, fmt.Errorf("format %q: %s reads %s", p.Format, p.OS, formatOf(p.OS)))
		}
	default:
		errs = append(errs, fmt.Errorf("os %q: use fcos, flatcar or debian", p.OS))
	}
	if p.Kernel == "" && (len(p.Initrd) > 0 || p.RootFS != "") {
		errs = append(errs, errors.New("initrd or rootfs without kernel: set kernel too, or leave all three to the defaults"))
	}
	if p.Kernel != "" && len(p.Initrd) == 0 {
		errs = append(errs, errors.New("kernel without initrd: every supported OS boots from an initramfs"))
	}
	check := func(field, u string) {
		if err := checkBootURL(u); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
	}
	if p.Kernel != "" {
		check("kernel", p.Kernel)
	}
	for i, u := range p.Initrd {
		check(fmt.Sprintf("initrd[%d]", i), u)
	}
	if p.RootFS != "" {
		if p.OS == OSFlatcar {
			errs = append(errs, errors.New("rootfs: flatcar's PXE image carries its own root file system"))
		}
		check("rootfs", p.RootFS)
	}
	if p.InstallDevice != "" {
		if p.OS != OSFedoraCoreOS {
			errs = append(errs, fmt.Errorf("installDevice: only fcos installs from kernel arguments; %s does not", p.OS))
		}
		if !strings.HasPrefix(p.InstallDevice, "/dev/") || strings.ContainsFunc(p.InstallDevice, unsafeInScript) {
			errs = append(errs, fmt.Errorf("installDevice %q: want a device path, e.g. /dev/sda", p.InstallDevice))
		}
	}
	for i, a := range p.Args {
		if err := checkArg(a, ownedArgs[p.OS]); err != nil {
			errs = append(errs, fmt.Errorf("args[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// unsafeInScript reports characters that would split or end an iPXE command
// or a kernel command line.
func unsafeInScript(r rune) bool { return r <= ' ' || r == 0x7f }

// checkBootURL accepts an absolute http, https or tftp URL, or a path from
// the server's base URL, that can stand as one iPXE token.
func checkBootURL(u string) error {
	if u == "" || strings.ContainsFunc(u, unsafeInScript) || strings.Contains(u, "${") {
		return fmt.Errorf("%q: a URL without spaces, control characters or iPXE settings", u)
	}
	if strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") {
		return nil
	}
	pu, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("%q: %w", u, err)
	}
	switch pu.Scheme {
	case "http", "https", "tftp":
	default:
		return fmt.Errorf("%q: want an http, https or tftp URL, or a path such as /assets/fcos/kernel", u)
	}
	if pu.Host == "" {
		return fmt.Errorf("%q: no host", u)
	}
	return nil
}

// checkArg accepts one kernel argument that is one iPXE token and does not
// set what the server writes itself.
func checkArg(a string, owned []string) error {
	if a == "" || strings.ContainsFunc(a, unsafeInScript) {
		return fmt.Errorf("%q: one argument, without spaces or control characters", a)
	}
	if a[0] == '#' || a == "||" || a == "&&" || a == ";" {
		return fmt.Errorf("%q: iPXE would read this as a comment or a command separator", a)
	}
	key, _, _ := strings.Cut(a, "=")
	for _, o := range owned {
		if key == o {
			return fmt.Errorf("%q: etcdboot sets %s itself", a, o)
		}
	}
	return nil
}
