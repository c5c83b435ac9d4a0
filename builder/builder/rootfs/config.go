//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config

package rootfs

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// BuilderID identifies the artifacts of this builder.
const BuilderID = "etcdboot.rootfs"

// DefaultSuite is the Debian release built when suite is not set.
const DefaultSuite = "bookworm"

// DefaultPackages are what every member image needs besides minbase: an init
// that runs the units, the firewall and network tools the agent drives, and
// the CA bundle for HTTPS discovery.
var DefaultPackages = []string{"systemd", "systemd-sysv", "dbus", "nftables", "iproute2", "ca-certificates"}

// DefaultChrootMounts are mounted into the root file system while the
// provisioners run, and unmounted before it is exported.
var DefaultChrootMounts = [][]string{
	{"proc", "proc", "/proc"},
	{"sysfs", "sysfs", "/sys"},
	{"bind", "/dev", "/dev"},
	{"devpts", "devpts", "/dev/pts"},
}

// DefaultCopyFiles are copied from the host for the provisioners (name
// resolution for apt) and removed again before export.
var DefaultCopyFiles = []string{"/etc/resolv.conf"}

// Config is the builder's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// Mirror is the Debian mirror URI. Default: the host's apt source for
	// the suite, from /etc/apt/sources.list.d/*.sources or sources.list.
	Mirror string `mapstructure:"mirror"`
	// Suite is the Debian release. Default bookworm.
	Suite string `mapstructure:"suite"`
	// OutputDir receives rootfs/, manifest.json and the exports. Default
	// output-<build name>. It must not exist unless packer runs with -force.
	OutputDir string `mapstructure:"output_dir"`
	// Packages are installed besides DefaultPackages (for example cloud-init).
	Packages []string `mapstructure:"packages"`
	// Tarball writes rootfs.tar.gz (numeric owners, extended attributes).
	Tarball bool `mapstructure:"tarball"`
	// RawImage writes rootfs.img, an ext4 file system made by mkfs.ext4 -d.
	RawImage bool `mapstructure:"raw_image"`
	// RawImageSizeMB is the size of rootfs.img; 0 sizes it from the content.
	RawImageSizeMB int `mapstructure:"raw_image_size_mb"`
	// ChrootMounts are [type, device, path] triples mounted for the
	// provisioners. Default proc, sysfs, /dev (bind) and devpts.
	ChrootMounts [][]string `mapstructure:"chroot_mounts"`
	// CopyFiles are host files copied in for the provisioners and removed
	// afterwards. Default /etc/resolv.conf.
	CopyFiles []string `mapstructure:"copy_files"`

	ctx interpolate.Context
	// sourcesRoot is where host apt sources are read from; "/" outside tests.
	sourcesRoot string
}

var (
	suiteName   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`)
)

// Prepare decodes raws into c, applies defaults and reports every problem.
func (c *Config) Prepare(raws ...interface{}) ([]string, error) {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
	}, raws...)
	if err != nil {
		return nil, err
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	var warnings []string

	if c.Suite == "" {
		c.Suite = DefaultSuite
	}
	if !suiteName.MatchString(c.Suite) {
		add("suite %q: give a Debian release name such as %s", c.Suite, DefaultSuite)
	}
	if c.Mirror == "" {
		root := c.sourcesRoot
		if root == "" {
			root = "/"
		}
		m, err := HostMirror(root, c.Suite)
		if err != nil {
			add("mirror: not set and %w", err)
		}
		c.Mirror = m
	} else if u, err := url.Parse(c.Mirror); err != nil || u.Scheme == "" || u.Host == "" && u.Scheme != "file" {
		add("mirror %q: give a mirror URI such as http://deb.debian.org/debian", c.Mirror)
	}
	if c.OutputDir == "" {
		c.OutputDir = "output-" + c.PackerBuildName
	}
	for _, p := range c.Packages {
		if !packageName.MatchString(p) {
			add("packages: %q is not a Debian package name", p)
		}
	}
	c.Packages = slices.DeleteFunc(c.Packages, func(p string) bool { return slices.Contains(DefaultPackages, p) })
	if c.RawImageSizeMB < 0 {
		add("raw_image_size_mb %d: give a size in MiB, or 0 to size the image from its content", c.RawImageSizeMB)
	}
	if c.RawImageSizeMB > 0 && !c.RawImage {
		warnings = append(warnings, "raw_image_size_mb is set but raw_image is false: no raw image is written")
	}
	if c.ChrootMounts == nil {
		c.ChrootMounts = DefaultChrootMounts
	}
	for i, m := range c.ChrootMounts {
		if len(m) != 3 {
			add("chroot_mounts[%d]: give [type, device, path], for example [\"proc\", \"proc\", \"/proc\"]", i)
		}
	}
	if c.CopyFiles == nil {
		c.CopyFiles = DefaultCopyFiles
	}
	return warnings, errors.Join(errs...)
}
