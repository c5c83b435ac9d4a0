package spec

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MaxMembers is the largest cluster etcd recommends running.
const MaxMembers = 9

var (
	dnsLabel   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	tokenChars = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	versionRe  = regexp.MustCompile(`^v?3\.(\d+)\.(\d+)$`)
)

// checker collects problems against the positions of one document.
type checker struct {
	doc      *Document
	problems []Problem
}

func (c *checker) errorf(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Pos: c.doc.At(path), Field: path, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Pos: c.doc.At(path), Field: path, Message: fmt.Sprintf(format, args...), Warning: true})
}

// Validate checks a Cluster (with defaults applied) and returns every problem;
// doc gives positions and may be nil for a cluster built in code.
func (cl *Cluster) Validate(doc *Document) []Problem {
	if doc == nil {
		doc = &Document{File: "<cluster>"}
	}
	c := &checker{doc: doc}
	if cl.APIVersion != APIVersion {
		c.errorf("apiVersion", "is %q; write %q", cl.APIVersion, APIVersion)
	}
	switch {
	case cl.Name == "":
		c.errorf("name", "is missing; name the cluster, e.g. name: prod-etcd")
	case !dnsLabel.MatchString(cl.Name):
		c.errorf("name", "%q is not a DNS label; use lower-case letters, digits and '-', at most 63", cl.Name)
	}
	if cl.Token != "" && !tokenChars.MatchString(cl.Token) {
		c.errorf("token", "%q has characters etcd's --initial-cluster-token does not take; use letters, digits, '.', '_' and '-'", cl.Token)
	}
	minor := c.etcd(cl.Etcd, "etcd")
	c.membersOrGroup(cl)
	c.discovery(cl, minor)
	c.pki(cl.PKI)
	c.firewall(cl.Firewall, "firewall")
	c.tlsPolicy(cl.TLS.MinVersion, "tls.minVersion")
	c.payload(cl.Payload)
	if cl.Backup != nil {
		c.backup(*cl.Backup, cl.Members, cl.Autoscaling != nil, cl.Etcd.DataDir)
	}
	if cl.Recovery != nil {
		c.recovery(*cl.Recovery, cl.Backup)
	}
	if cl.Maintenance != nil {
		c.maintenance(*cl.Maintenance, cl.Etcd)
	}
	return c.problems
}

// EtcdMinor returns the minor version of an etcd version string ("3.6.16" -> 6).
func EtcdMinor(version string) (int, error) {
	m := versionRe.FindStringSubmatch(version)
	if m == nil {
		return 0, fmt.Errorf("%q is not an etcd 3.x version; write e.g. 3.6.16", version)
	}
	return strconv.Atoi(m[1])
}

// minTLSMinVersionPatch35 is the first 3.5 release with --tls-min-version
// and --tls-max-version (etcd PR 15483); 3.6 and later all have them.
const minTLSMinVersionPatch35 = 8

// etcdPatch is the patch release of a version EtcdMinor accepted.
func etcdPatch(version string) int {
	m := versionRe.FindStringSubmatch(version)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[2])
	return n
}

func (c *checker) etcd(e Etcd, path string) (minor int) {
	minor, err := EtcdMinor(e.Version)
	switch {
	case err != nil:
		c.errorf(path+".version", "%v", err)
	case minor < 5 || minor > 7:
		c.errorf(path+".version", "etcd 3.%d is not supported; use 3.5, 3.6 or 3.7", minor)
	case minor == 5 && etcdPatch(e.Version) < minTLSMinVersionPatch35:
		c.errorf(path+".version", "etcd %s has no --tls-min-version (3.5.%d added it), which etcdboot sets on every listener; use 3.5.%d or later", e.Version, minTLSMinVersionPatch35, minTLSMinVersionPatch35)
	}
	if !strings.HasPrefix(e.DataDir, "/") {
		c.errorf(path+".dataDir", "%q is not an absolute path; write e.g. /var/lib/etcd", e.DataDir)
	}
	if e.ConfigFormat != ConfigYAML && e.ConfigFormat != ConfigEnv {
		c.errorf(path+".configFormat", "%q is not a config format; use yaml or env", e.ConfigFormat)
	}
	ports := map[int]string{}
	for _, p := range []struct {
		name string
		port int
	}{{"clientPort", e.ClientPort}, {"peerPort", e.PeerPort}, {"metricsPort", e.MetricsPort}} {
		if p.port < 1 || p.port > 65535 {
			c.errorf(path+"."+p.name, "%d is not a TCP port; use 1-65535", p.port)
			continue
		}
		if other, dup := ports[p.port]; dup {
			c.errorf(path+"."+p.name, "port %d is also %s; give each a port of its own", p.port, other)
		}
		ports[p.port] = p.name
	}
	hb, et := e.EffectiveHeartbeat(), e.EffectiveElectionTimeout()
	if hb < time.Millisecond {
		c.errorf(path+".heartbeatInterval", "%v is too short; etcd counts in milliseconds, use e.g. 100ms", hb)
	}
	if et < 5*hb {
		c.errorf(path+".electionTimeout", "%v is less than 5 x heartbeatInterval (%v); etcd refuses that, use at least %v", et, hb, 5*hb)
	}
	if et > 50*time.Second {
		c.errorf(path+".electionTimeout", "%v is more than etcd's maximum of 50s", et)
	}
	if q := int64(e.QuotaBackendBytes); q != 0 && (q < 1<<20 || q > 100<<30) {
		c.errorf(path+".quotaBackendBytes", "%d bytes is outside 1MiB..100GiB; etcd recommends at most 8GiB", q)
	}
	switch e.AutoCompactionMode {
	case "":
		if e.AutoCompactionRetention != "" {
			c.errorf(path+".autoCompactionRetention", "is set without autoCompactionMode; add autoCompactionMode: periodic or revision")
		}
	case "periodic":
		if e.AutoCompactionRetention == "" {
			c.errorf(path+".autoCompactionRetention", "is missing; write e.g. 1h for periodic compaction")
		} else if _, err := ParseDuration(e.AutoCompactionRetention); err != nil {
			if _, nerr := strconv.ParseUint(e.AutoCompactionRetention, 10, 32); nerr != nil {
				c.errorf(path+".autoCompactionRetention", "%q is not a period; write e.g. 1h or 30m", e.AutoCompactionRetention)
			}
		}
	case "revision":
		if _, err := strconv.ParseUint(e.AutoCompactionRetention, 10, 63); err != nil {
			c.errorf(path+".autoCompactionRetention", "%q is not a revision count; write e.g. 1000", e.AutoCompactionRetention)
		}
	default:
		c.errorf(path+".autoCompactionMode", "%q is not a compaction mode; use periodic or revision", e.AutoCompactionMode)
	}
	return minor
}

func (c *checker) membersOrGroup(cl *Cluster) {
	switch {
	case len(cl.Members) > 0 && cl.Autoscaling != nil:
		c.errorf("autoscaling", "is set together with members; list members when you know them, or describe an autoscaling group, not both")
		return
	case len(cl.Members) == 0 && cl.Autoscaling == nil:
		c.errorf("members", "is empty; list the members (name and ips) or add an autoscaling section")
		return
	}
	size, sizePath := len(cl.Members), "members"
	if a := cl.Autoscaling; a != nil {
		size, sizePath = a.Size, "autoscaling.size"
		c.autoscaling(a)
	}
	switch {
	case size < 1 || size > MaxMembers:
		c.errorf(sizePath, "cluster size %d is outside 1..%d; etcd clusters have 1, 3, 5 or 7 members", size, MaxMembers)
	case size%2 == 0:
		c.warnf(sizePath, "cluster size %d is even: it tolerates no more failures than %d members; use an odd size", size, size-1)
	}
	names, ips, macs := map[string]int{}, map[netip.Addr]int{}, map[string]int{}
	for i, m := range cl.Members {
		p := fmt.Sprintf("members[%d]", i)
		switch {
		case m.Name == "":
			c.errorf(p+".name", "is missing; give every member a name, e.g. etcd%d", i+1)
		case !dnsLabel.MatchString(m.Name):
			c.errorf(p+".name", "%q is not a DNS label; use lower-case letters, digits and '-'", m.Name)
		default:
			if j, dup := names[m.Name]; dup {
				c.errorf(p+".name", "%q is also the name of members[%d]; names must be unique", m.Name, j)
			}
			names[m.Name] = i
		}
		if len(m.IPs) == 0 {
			c.errorf(p+".ips", "is empty; give the member's IP address, e.g. ips: [192.168.2.51]")
		}
		for k, s := range m.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				c.errorf(fmt.Sprintf("%s.ips[%d]", p, k), "%q is not an IP address", s)
				continue
			}
			if ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() {
				c.errorf(fmt.Sprintf("%s.ips[%d]", p, k), "%s cannot be a member address; use the address peers reach it on", ip)
			}
			if j, dup := ips[ip]; dup {
				c.errorf(fmt.Sprintf("%s.ips[%d]", p, k), "%s is also an address of members[%d]; addresses must be unique", ip, j)
			}
			ips[ip] = i
		}
		if m.FQDN != "" && !validDomain(m.FQDN) {
			c.errorf(p+".fqdn", "%q is not a domain name", m.FQDN)
		} else if m.FQDN != "" && cl.Discovery.Mode == DiscoveryDNS && !strings.HasPrefix(m.FQDN, m.Name+".") {
			// The agent names peers after the first label of their SRV target.
			c.errorf(p+".fqdn", "%q must start with the member name (%s.) in dns discovery: members are named after their SRV target", m.FQDN, m.Name)
		}
		if m.MAC != "" {
			hw, err := net.ParseMAC(m.MAC)
			if err != nil || len(hw) != 6 {
				c.errorf(p+".mac", "%q is not a MAC address; write e.g. 52:54:00:aa:bb:01", m.MAC)
			} else {
				if j, dup := macs[hw.String()]; dup {
					c.errorf(p+".mac", "%s is also the MAC of members[%d]", hw, j)
				}
				macs[hw.String()] = i
			}
		}
	}
}

func (c *checker) autoscaling(a *Autoscaling) {
	if len(a.Subnets) == 0 {
		c.errorf("autoscaling.subnets", "is empty; give the CIDRs members take addresses from, e.g. [10.0.1.0/24]")
	}
	var subnets []netip.Prefix
	for i, s := range a.Subnets {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			c.errorf(fmt.Sprintf("autoscaling.subnets[%d]", i), "%q is not a CIDR; write e.g. 10.0.1.0/24", s)
			continue
		}
		if pfx != pfx.Masked() {
			c.errorf(fmt.Sprintf("autoscaling.subnets[%d]", i), "%q has host bits set; write %s", s, pfx.Masked())
		}
		subnets = append(subnets, pfx)
	}
	if a.Domain == "" || !validDomain(a.Domain) {
		c.errorf("autoscaling.domain", "%q is not a domain name; members get names under it, e.g. etcd.example.internal", a.Domain)
	}
	if !dnsLabel.MatchString(strings.TrimSuffix(a.NamePrefix, "-") + "x") {
		c.errorf("autoscaling.namePrefix", "%q cannot start a DNS label", a.NamePrefix)
	}
	for i, s := range a.Seeds {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			c.errorf(fmt.Sprintf("autoscaling.seeds[%d]", i), "%q is not an IP address", s)
			continue
		}
		if !inAny(ip, subnets) {
			c.errorf(fmt.Sprintf("autoscaling.seeds[%d]", i), "%s is outside autoscaling.subnets; seeds must be member addresses", ip)
		}
	}
}

func inAny(ip netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (c *checker) discovery(cl *Cluster, minor int) {
	d := cl.Discovery
	switch d.Mode {
	case DiscoveryStatic:
		if cl.Autoscaling != nil && len(cl.Members) == 0 && len(cl.Autoscaling.Seeds) == 0 {
			c.errorf("discovery.mode", "static discovery for an autoscaling group needs autoscaling.seeds; list candidate member IPs or use dns or etcd discovery")
		}
	case DiscoveryDNS:
		if d.DNS == nil || d.DNS.Domain == "" {
			c.errorf("discovery.dns.domain", "is missing; dns discovery needs the SRV domain, e.g. etcd.example.internal")
		} else if !validDomain(d.DNS.Domain) {
			c.errorf("discovery.dns.domain", "%q is not a domain name", d.DNS.Domain)
		}
		if d.DNS != nil && d.DNS.Server != "" {
			if _, _, err := net.SplitHostPort(d.DNS.Server); err != nil {
				c.errorf("discovery.dns.server", "%q is not host:port; write e.g. 10.0.0.2:53", d.DNS.Server)
			}
		}
		if d.DNS != nil && d.DNS.UpdateKey != nil {
			k := d.DNS.UpdateKey
			if k.Name == "" || k.Secret == "" {
				c.errorf("discovery.dns.updateKey", "needs name and secret (base64); leave it out and the generator writes one to out/dns/tsig.yaml")
			}
			if !d.DNS.Register {
				c.errorf("discovery.dns.updateKey", "is set but discovery.dns.register is not; set register: true or remove the key")
			}
		}
		if d.DNS != nil && d.DNS.Nameserver != "" {
			if _, err := netip.ParseAddr(d.DNS.Nameserver); err != nil {
				c.errorf("discovery.dns.nameserver", "%q is not an IP address", d.DNS.Nameserver)
			}
		}
		if d.DNS != nil && d.DNS.Domain != "" && d.DNS.Server == "" && d.DNS.Nameserver == "" {
			c.errorf("discovery.dns", "the zone needs its nameserver's address: set server (host:port the agents ask) or nameserver (the IP of the zone's NS)")
		}
		if d.DNS != nil && d.DNS.Register && d.DNS.Server == "" {
			c.errorf("discovery.dns.server", "is missing; registering by dynamic update needs the authoritative server, e.g. 10.0.0.2:53")
		}
	case DiscoveryEtcd:
		if minor > 0 && minor < 6 {
			c.errorf("discovery.mode", "etcd v3 discovery needs etcd 3.6 or later (etcd.version is %s); use dns or static discovery, or upgrade", cl.Etcd.Version)
		}
		if d.Etcd == nil || len(d.Etcd.Endpoints) == 0 {
			c.errorf("discovery.etcd.endpoints", "is missing; list the discovery cluster's client URLs, e.g. [https://10.0.0.9:2379]")
		} else {
			for i, e := range d.Etcd.Endpoints {
				u, err := url.Parse(e)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					c.errorf(fmt.Sprintf("discovery.etcd.endpoints[%d]", i), "%q is not a URL; write e.g. https://10.0.0.9:2379", e)
				}
			}
		}
		if d.Etcd != nil && d.Etcd.Size != 0 && d.Etcd.Size != cl.Size() {
			c.errorf("discovery.etcd.size", "is %d but the cluster has %d members; leave it out or make them agree", d.Etcd.Size, cl.Size())
		}
	default:
		c.errorf("discovery.mode", "%q is not a discovery mode; use static, dns or etcd", d.Mode)
	}
	if d.Mode != DiscoveryDNS && d.DNS != nil {
		c.errorf("discovery.dns", "is set but discovery.mode is %s; remove it or set mode: dns", d.Mode)
	}
	if d.Mode != DiscoveryEtcd && d.Etcd != nil {
		c.errorf("discovery.etcd", "is set but discovery.mode is %s; remove it or set mode: etcd", d.Mode)
	}
}

func (c *checker) pki(p PKI) {
	switch p.KeyAlgorithm {
	case KeyECDSA:
		if p.KeySize != 256 && p.KeySize != 384 {
			c.errorf("pki.keySize", "%d is not an ECDSA curve size; use 256 (P-256) or 384", p.KeySize)
		}
	case KeyRSA:
		if p.KeySize != 2048 && p.KeySize != 3072 && p.KeySize != 4096 {
			c.errorf("pki.keySize", "%d is not an RSA key size; use 2048, 3072 or 4096", p.KeySize)
		}
	default:
		c.errorf("pki.keyAlgorithm", "%q is not a key algorithm; use ecdsa or rsa", p.KeyAlgorithm)
	}
	if p.Expiry.Std() < 24*time.Hour {
		c.errorf("pki.expiry", "%v is shorter than a day; use e.g. 87600h", p.Expiry)
	}
	if p.IntermediateExpiry.Std() < time.Hour || p.IntermediateExpiry > p.Expiry {
		c.errorf("pki.intermediateExpiry", "%v must be between 1h and pki.expiry (%v)", p.IntermediateExpiry, p.Expiry)
	}
	if p.Layout != LayoutEtcdboot && p.Layout != LayoutKubeadm {
		c.errorf("pki.layout", "%q is not a layout; use etcdboot or kubeadm", p.Layout)
	}
}

func (c *checker) payload(p Payload) {
	seen := map[string]bool{}
	for i, f := range p.Formats {
		if f != FormatIgnition && f != FormatCloudInit {
			c.errorf(fmt.Sprintf("payload.formats[%d]", i), "%q is not a payload format; use ignition or cloud-init", f)
		}
		if seen[f] {
			c.errorf(fmt.Sprintf("payload.formats[%d]", i), "%q is listed twice", f)
		}
		seen[f] = true
	}
	if p.IgnitionVariant != "fcos" && p.IgnitionVariant != "flatcar" {
		c.errorf("payload.ignitionVariant", "%q is not a Butane variant; use fcos or flatcar", p.IgnitionVariant)
	}
}

func validDomain(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !dnsLabel.MatchString(strings.ToLower(label)) {
			return false
		}
	}
	return true
}
