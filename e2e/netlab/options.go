package netlab

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"time"
)

// Options configures a Lab. The zero value of every field but Prefix means its
// default (see DefaultOptions).
type Options struct {
	// Prefix starts every name the lab creates (namespaces, links,
	// /etc/netns directories), e.g. "ebt" for tests or "ebdemo" for the
	// demo. Everything named "<Prefix>-*" belongs to the lab: New removes
	// such leftovers of an earlier run, Close removes them all. 3 to 10
	// characters, a lowercase letter then lowercase letters and digits.
	Prefix string
	// Subnet is the IPv4 network of the bridge; default 10.123.0.0/24.
	Subnet netip.Prefix
	// HostAddr is the root namespace's address on the bridge, through which
	// the test process or the operator reaches the hosts; default the
	// first address of Subnet (10.123.0.1).
	HostAddr netip.Addr
	// LogDir receives one file per started process; default a new
	// directory under os.TempDir() that is kept after Close.
	LogDir string
	// LockWait is how long New waits while another live lab holds the same
	// Prefix or Subnet (for example an e2e package running in parallel);
	// default 5 minutes, negative means fail at once.
	LockWait time.Duration
}

// DefaultOptions returns the defaults for everything but Prefix.
func DefaultOptions() Options {
	return Options{
		Subnet:   netip.MustParsePrefix("10.123.0.0/24"),
		HostAddr: netip.MustParseAddr("10.123.0.1"),
		LockWait: 5 * time.Minute,
	}
}

const (
	// maxIfName is the longest Linux interface name (IFNAMSIZ-1).
	maxIfName = 15
	// hubSuffix names the namespace that holds the bridge.
	hubSuffix = "hub"
	// bridgeSuffix names the bridge inside the hub namespace.
	bridgeSuffix = "br"
	// rootSuffix names the veth that joins the root namespace to the bridge
	// (the same name at both ends: in the root and in the hub namespace).
	rootSuffix = "root"
)

var (
	prefixRE = regexp.MustCompile(`^[a-z][a-z0-9]{2,9}$`)
	hostRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	procRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

	// deniedPrefixes would make "<prefix>-*" match objects that other
	// software creates on real machines (CNI names namespaces "cni-<id>").
	deniedPrefixes = map[string]bool{"cni": true}
	// reservedHosts are taken by the lab's own objects.
	reservedHosts = map[string]bool{hubSuffix: true, bridgeSuffix: true, rootSuffix: true}
)

// withDefaults fills the zero fields of o from DefaultOptions and checks the
// result.
func (o Options) withDefaults() (Options, error) {
	d := DefaultOptions()
	if !o.Subnet.IsValid() {
		o.Subnet = d.Subnet
	}
	if !o.HostAddr.IsValid() {
		o.HostAddr = o.Subnet.Masked().Addr().Next()
	}
	if o.LockWait == 0 {
		o.LockWait = d.LockWait
	}
	if o.LogDir != "" {
		abs, err := filepath.Abs(o.LogDir)
		if err != nil {
			return o, fmt.Errorf("netlab: log dir %q: %w", o.LogDir, err)
		}
		o.LogDir = abs
	}
	return o, o.validate()
}

func (o Options) validate() error {
	if !prefixRE.MatchString(o.Prefix) || deniedPrefixes[o.Prefix] {
		return fmt.Errorf("netlab: prefix %q: want 3 to 10 characters, a lowercase letter then lowercase letters or digits, not %q", o.Prefix, "cni")
	}
	if !o.Subnet.Addr().Is4() || o.Subnet.Bits() > 30 {
		return fmt.Errorf("netlab: subnet %s: want an IPv4 network of at least 4 addresses, like 10.123.0.0/24", o.Subnet)
	}
	if o.Subnet.Masked() != o.Subnet {
		return fmt.Errorf("netlab: subnet %s has host bits set; use %s", o.Subnet, o.Subnet.Masked())
	}
	if err := usableAddr(o.Subnet, o.HostAddr); err != nil {
		return fmt.Errorf("netlab: host address: %w", err)
	}
	return nil
}

// usableAddr reports whether a can be given to an interface in subnet.
func usableAddr(subnet netip.Prefix, a netip.Addr) error {
	if !a.Is4() || !subnet.Contains(a) {
		return fmt.Errorf("%s is not an IPv4 address in %s", a, subnet)
	}
	if a == subnet.Addr() || a == lastAddr(subnet) {
		return fmt.Errorf("%s is the network or broadcast address of %s", a, subnet)
	}
	return nil
}

// lastAddr returns the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	return netip.AddrFrom4(b)
}

// checkHostName validates a host name against the prefix: the host's veth on
// the bridge is named "<prefix>-<name>" and must fit an interface name.
func checkHostName(prefix, name string) error {
	if !hostRE.MatchString(name) || reservedHosts[name] {
		return fmt.Errorf("netlab: host name %q: want lowercase letters, digits and inner dashes, not one of hub, br, root", name)
	}
	if n := len(prefix) + 1 + len(name); n > maxIfName {
		return fmt.Errorf("netlab: host name %q: %q is %d characters, interface names hold at most %d; use a name of at most %d characters",
			name, prefix+"-"+name, n, maxIfName, maxIfName-len(prefix)-1)
	}
	return nil
}

// owned reports whether a namespace, link or /etc/netns entry called name
// belongs to the lab with this prefix.
func owned(prefix, name string) bool {
	return len(name) > len(prefix)+1 && name[:len(prefix)+1] == prefix+"-"
}

// objName returns "<prefix>-<suffix>", the name of a lab object.
func objName(prefix, suffix string) string { return prefix + "-" + suffix }
