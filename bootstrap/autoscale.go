package bootstrap

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

// How an autoscaling group forms exactly one cluster, even when every
// instance boots at the same moment from the same launch payload:
//
//   - seeds (static discovery): the first autoscaling.size seeds are the
//     initial cluster. Every instance computes the same list, names and
//     token, so seeds that find no running cluster all bootstrap the same
//     one; an instance that is not a seed never bootstraps, it waits for a
//     running cluster and joins it.
//   - DNS with registration: every instance registers, then waits until
//     autoscaling.size members are listed; the lowest size addresses form the
//     cluster, the others wait and join.
//   - etcd v3 discovery: the token admits exactly size members; instances
//     that find it full join the running cluster instead.
//
// Any instance that finds a healthy cluster answering joins it as a learner
// under a cluster-wide lock, so joins never race.

// HostAddrs lists the host's unicast addresses.
func HostAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if pfx, err := netip.ParsePrefix(a.String()); err == nil && !pfx.Addr().IsLoopback() {
			out = append(out, pfx.Addr())
		}
	}
	return out, nil
}

// SeedMembers are the members an autoscaling group's seeds form.
func SeedMembers(as *spec.Autoscaling) []spec.Member {
	var out []spec.Member
	for _, s := range as.Seeds {
		if len(out) == as.Size {
			break
		}
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, spec.Member{Name: etcdconfig.NameFor(as.NamePrefix, ip), IPs: []string{ip.String()}})
		}
	}
	return out
}

// mintCertificates issues this instance's server and peer certificates with
// the group's member-issuing intermediate, keeping valid ones across reboots.
// The intermediate's name constraints are checked before anything is written.
func (a *Agent) mintCertificates(nd node) error {
	t := nd.payload.TLS
	certPEM, err := os.ReadFile(a.path(t.IssuerCertFile))
	if err != nil {
		return fmt.Errorf("tls.issuerCertFile: %w", err)
	}
	keyPEM, err := os.ReadFile(a.path(t.IssuerKeyFile))
	if err != nil {
		return fmt.Errorf("tls.issuerKeyFile: %w", err)
	}
	issuer, err := pki.LoadAuthority(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("tls.issuerCertFile: %w", err)
	}
	n := nd.payload.Node
	var ips []net.IP
	for _, s := range n.IPs {
		ips = append(ips, net.ParseIP(s))
	}
	// Under name constraints every DNS name must lie in the group's domain,
	// so the certificate names the FQDN, not the bare member name. Its
	// life is the issuer's: issuing backdates the start by minutes and
	// clamps the end to the issuer's, so the certificate ends with the
	// issuer (time.Until the issuer's end would end minutes before it, and
	// fail once fewer minutes than that are left).
	ic := issuer.Certificate()
	server, peer := pki.MemberRequests(n.FQDN, "", ips, []string{nd.payload.Autoscaling.Domain}, pki.DefaultKeySpec(), ic.NotAfter.Sub(ic.NotBefore))
	for _, c := range []struct {
		file string
		req  pki.Request
	}{{t.ServerCertFile, server}, {t.PeerCertFile, peer}} {
		if err := issuer.Permits(c.req.DNSNames, c.req.IPs); err != nil {
			return fmt.Errorf("this instance (%s) is outside what the group's intermediate may certify: %w", n.Name, err)
		}
		path := a.path(c.file)
		dir := pki.Dir{Path: filepath.Dir(path)}
		name := strings.TrimSuffix(filepath.Base(path), ".crt")
		if _, err := dir.EnsureCert(issuer, name, c.req, false); err != nil {
			return fmt.Errorf("mint %s: %w", path, err)
		}
		// etcd runs as its own user: the minted pair belongs to whoever
		// the payload's issuer key belongs to (etcd:etcd on a node).
		if err := sameOwner(a.path(t.IssuerKeyFile), path, filepath.Join(dir.Path, name+".key")); err != nil {
			return fmt.Errorf("mint %s: %w", path, err)
		}
	}
	return nil
}

// sameOwner gives files the owner and group of ref, when they differ and
// this process may change them.
func sameOwner(ref string, files ...string) error {
	fi, err := os.Stat(ref)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := chownLike(fi, f); err != nil {
			return err
		}
	}
	return nil
}

// chownLike gives file the owner and group of ref, when they differ and
// this process may change them.
func chownLike(ref os.FileInfo, file string) error {
	st, ok := ref.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	cur, err := os.Stat(file)
	if err != nil {
		return err
	}
	if c, ok := cur.Sys().(*syscall.Stat_t); ok && c.Uid == st.Uid && c.Gid == st.Gid {
		return nil
	}
	if err := os.Chown(file, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("give %s to %d:%d: %w", file, st.Uid, st.Gid, err)
	}
	return nil
}
