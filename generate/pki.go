package generate

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/etcdboot/etcdboot/discovery"
	"github.com/etcdboot/etcdboot/ignition"
	"github.com/etcdboot/etcdboot/pki"
	"github.com/etcdboot/etcdboot/spec"
)

type caFiles struct {
	authority *pki.Authority
}

type memberCerts struct {
	server, peer pki.KeyPair
}

type groupCerts struct {
	issuer *pki.Authority
}

func (g *generator) pkiDir() pki.Dir { return pki.Dir{Path: filepath.Join(g.opts.OutDir, "pki")} }

func (g *generator) keySpec() pki.KeySpec {
	return pki.KeySpec{Algorithm: g.c.PKI.KeyAlgorithm, Size: g.c.PKI.KeySize}
}

// pki issues (or keeps) the CA, every member's server and peer certificate,
// the client certificates and, for an autoscaling group, the intermediate.
func (g *generator) pki() error {
	dir, key, expiry := g.pkiDir(), g.keySpec(), g.c.PKI.Expiry.Std()
	// The keys to make are generated ahead on every core; certificates are
	// still issued one by one in this order, so only the keys differ
	// between runs.
	dir.Keys = pki.NewKeyPool(key, dir.NewKeysNeeded(g.opts.Rotate, g.pkiNames()...))
	defer dir.Keys.Close()
	ca, err := dir.EnsureCA("etcd", key, expiry, g.opts.Rotate)
	if err != nil {
		return err
	}
	g.ca = caFiles{authority: ca}
	g.record("pki/ca.crt", "pki/ca.key")
	g.certs = map[string]memberCerts{}
	for _, m := range g.c.Members {
		var ips []net.IP
		for _, s := range m.IPs {
			ips = append(ips, net.ParseIP(s))
		}
		server, peer := pki.MemberRequests(m.Name, m.FQDN, ips, g.srvNames(m), key, expiry)
		var mc memberCerts
		if mc.server, err = dir.EnsureCert(ca, m.Name+"-server", server, g.opts.Rotate); err != nil {
			return fmt.Errorf("member %s: %w", m.Name, err)
		}
		if mc.peer, err = dir.EnsureCert(ca, m.Name+"-peer", peer, g.opts.Rotate); err != nil {
			return fmt.Errorf("member %s: %w", m.Name, err)
		}
		g.certs[m.Name] = mc
		g.record("pki/"+m.Name+"-server.crt", "pki/"+m.Name+"-server.key", "pki/"+m.Name+"-peer.crt", "pki/"+m.Name+"-peer.key")
	}
	for _, req := range pki.ClientRequests(key, expiry) {
		if _, err := dir.EnsureCert(ca, req.CommonName, req, g.opts.Rotate); err != nil {
			return fmt.Errorf("client %s: %w", req.CommonName, err)
		}
		g.record("pki/"+req.CommonName+".crt", "pki/"+req.CommonName+".key")
	}
	if a := g.c.Autoscaling; a != nil {
		var ranges []*net.IPNet
		for _, s := range a.Subnets {
			_, n, err := net.ParseCIDR(s)
			if err != nil {
				return fmt.Errorf("autoscaling.subnets: %w", err)
			}
			ranges = append(ranges, n)
		}
		issuer, err := dir.EnsureIntermediate(ca, "issuer", pki.IntermediateRequest{
			CommonName:          g.c.Name + " member issuer",
			PermittedDNSDomains: []string{a.Domain},
			PermittedIPRanges:   ranges,
			Key:                 key,
			Expiry:              g.c.PKI.IntermediateExpiry.Std(),
		}, g.opts.Rotate)
		if err != nil {
			return fmt.Errorf("autoscaling intermediate: %w", err)
		}
		g.group = &groupCerts{issuer: issuer}
		g.record("pki/issuer.crt", "pki/issuer.key")
	}
	return nil
}

// pkiNames are the names of every certificate pki ensures, in its order.
func (g *generator) pkiNames() []string {
	names := []string{"ca"}
	for _, m := range g.c.Members {
		names = append(names, m.Name+"-server", m.Name+"-peer")
	}
	for _, req := range pki.ClientRequests(g.keySpec(), g.c.PKI.Expiry.Std()) {
		names = append(names, req.CommonName)
	}
	if g.c.Autoscaling != nil {
		names = append(names, "issuer")
	}
	return names
}

// srvNames are the extra DNS SANs DNS discovery needs: etcd checks that a
// peer's certificate names the SRV domain and its SRV target.
func (g *generator) srvNames(m spec.Member) []string {
	d := g.c.Discovery.DNS
	if g.c.Discovery.Mode != spec.DiscoveryDNS || d == nil {
		return nil
	}
	t := discovery.TargetFor(m, d.Domain)
	return []string{d.Domain, strings.TrimSuffix(t.Host, ".")}
}

func (g *generator) record(rel ...string) { g.res.Files = append(g.res.Files, rel...) }

// memberFiles are the certificate files one member's payload places.
func (g *generator) memberFiles(name string, t spec.NodeTLS) []ignition.File {
	mc := g.certs[name]
	files := []ignition.File{
		{Path: t.CAFile, Mode: 0o644, Contents: g.ca.authority.TrustPEM()},
		{Path: t.ServerCertFile, Mode: 0o644, Contents: mc.server.CertPEM},
		{Path: t.ServerKeyFile, Mode: 0o600, Contents: mc.server.KeyPEM, Secret: true},
		{Path: t.PeerCertFile, Mode: 0o644, Contents: mc.peer.CertPEM},
		{Path: t.PeerKeyFile, Mode: 0o600, Contents: mc.peer.KeyPEM, Secret: true},
	}
	return files
}

// groupFiles are the files of an autoscaling group's launch payload: the root
// CA certificate and the member-issuing intermediate, never the root key.
func (g *generator) groupFiles(t spec.NodeTLS) []ignition.File {
	return []ignition.File{
		{Path: t.CAFile, Mode: 0o644, Contents: g.ca.authority.TrustPEM()},
		// With its chain: during a CA rotation, the cross-certificate that
		// lets members which loaded only the old CA verify what it mints.
		{Path: t.IssuerCertFile, Mode: 0o644, Contents: g.group.issuer.ChainPEM()},
		{Path: t.IssuerKeyFile, Mode: 0o600, Contents: g.group.issuer.KeyPEM(), Secret: true},
	}
}

// clientEndpoints are the members' client URLs.
func (g *generator) clientEndpoints() []string {
	var eps []string
	for _, m := range g.c.Members {
		for _, s := range m.IPs {
			if ip, err := netip.ParseAddr(s); err == nil {
				eps = append(eps, "https://"+netip.AddrPortFrom(ip, uint16(g.c.Etcd.ClientPort)).String())
			}
		}
	}
	return eps
}
