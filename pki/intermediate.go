package pki

import (
	"cmp"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/cloudflare/cfssl/config"
	"github.com/cloudflare/cfssl/csr"
	"github.com/cloudflare/cfssl/signer"

	"github.com/etcdboot/etcdboot/spec"
)

// IntermediateRequest describes a member-issuing intermediate CA for an
// autoscaling group: members mint their own server and peer certificates with
// it, so the root key never leaves the generator.
type IntermediateRequest struct {
	CommonName string
	// PermittedDNSDomains are the domains member names live under; "localhost"
	// is always added so members can carry the localhost SAN.
	PermittedDNSDomains []string
	// PermittedIPRanges are the subnets members get addresses from;
	// 127.0.0.0/8 and ::1/128 are always added.
	PermittedIPRanges []*net.IPNet
	// Key is the intermediate's key; zero means DefaultKeySpec.
	Key KeySpec
	// Expiry is kept short because the key travels in every launch payload;
	// zero means spec.DefaultIntermediateLife. Clamped to the root's NotAfter.
	Expiry time.Duration
}

// loopbackRanges are permitted in every intermediate: members' certificates
// carry 127.0.0.1 and ::1 so local clients can verify them.
var loopbackRanges = []*net.IPNet{
	{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
	{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
}

// normalize fills defaults, adds localhost and the loopback ranges, drops
// duplicates and reports every problem at once.
func (r IntermediateRequest) normalize() (IntermediateRequest, error) {
	r.Key, r.Expiry = r.Key.orDefault(), cmp.Or(r.Expiry, spec.DefaultIntermediateLife)
	errs := commonProblems(r.CommonName, r.Key, r.Expiry)
	var domains []string
	for _, d := range append(slices.Clone(r.PermittedDNSDomains), "localhost") {
		d = strings.ToLower(d)
		if err := checkDNSName(strings.TrimPrefix(d, ".")); err != nil || strings.Contains(d, "*") {
			errs = append(errs, fmt.Errorf("permitted DNS domain %q is not a domain name", d))
			continue
		}
		if !slices.Contains(domains, d) {
			domains = append(domains, d)
		}
	}
	var ranges []*net.IPNet
	seen := map[string]bool{}
	for _, n := range append(slices.Clone(r.PermittedIPRanges), loopbackRanges...) {
		ip, mask, err := canonicalRange(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("permitted IP range: %w", err))
			continue
		}
		c := &net.IPNet{IP: ip, Mask: mask}
		if !seen[c.String()] {
			seen[c.String()] = true
			ranges = append(ranges, c)
		}
	}
	r.PermittedDNSDomains, r.PermittedIPRanges = domains, ranges
	return r, errors.Join(errs...)
}

// NewIntermediate has this CA sign a new intermediate CA: CA:TRUE with path
// length 0 (it issues only leaves) and critical name constraints permitting
// req's domains and subnets plus localhost and loopback. cfssl carries the
// NameConstraints extension through the profile's extension whitelist.
func (a *Authority) NewIntermediate(req IntermediateRequest) (*Authority, error) {
	req, err := a.checkIntermediate(req)
	if err != nil {
		return nil, err
	}
	csrPEM, keyPEM, err := csr.ParseRequest(intermediateCSR(req))
	if err != nil {
		return nil, fmt.Errorf("new intermediate CA %q: cfssl key and CSR: %w", req.CommonName, err)
	}
	return a.signIntermediate(req, csrPEM, keyPEM)
}

// newIntermediateWithKey is NewIntermediate keeping an existing key.
func (a *Authority) newIntermediateWithKey(req IntermediateRequest, key crypto.Signer, keyPEM []byte) (*Authority, error) {
	ks, err := keySpecOf(key.Public())
	if err != nil {
		return nil, fmt.Errorf("new intermediate CA %q: %w", req.CommonName, err)
	}
	req.Key = ks
	if req, err = a.checkIntermediate(req); err != nil {
		return nil, err
	}
	csrPEM, err := csr.Generate(key, intermediateCSR(req))
	if err != nil {
		return nil, fmt.Errorf("new intermediate CA %q: cfssl CSR: %w", req.CommonName, err)
	}
	return a.signIntermediate(req, csrPEM, keyPEM)
}

func (a *Authority) checkIntermediate(req IntermediateRequest) (IntermediateRequest, error) {
	req, err := req.normalize()
	if err != nil {
		return req, fmt.Errorf("new intermediate CA %q: %w", req.CommonName, err)
	}
	if a.cert.MaxPathLen == 0 && a.cert.MaxPathLenZero {
		return req, fmt.Errorf("new intermediate CA %q: CA %q has path length 0 and may only issue leaf certificates; sign intermediates with the root CA", req.CommonName, a.cert.Subject.CommonName)
	}
	return req, nil
}

func intermediateCSR(req IntermediateRequest) *csr.CertificateRequest {
	return &csr.CertificateRequest{
		CN:         req.CommonName,
		KeyRequest: req.Key.cfssl(),
		CA:         &csr.CAConfig{PathLength: 0, PathLenZero: true},
	}
}

func (a *Authority) signIntermediate(req IntermediateRequest, csrPEM, keyPEM []byte) (*Authority, error) {
	der, err := marshalNameConstraints(req.PermittedDNSDomains, req.PermittedIPRanges)
	if err != nil {
		return nil, fmt.Errorf("new intermediate CA %q: %w", req.CommonName, err)
	}
	start := notBefore()
	end, err := a.notAfter(start, req.Expiry)
	if err != nil {
		return nil, fmt.Errorf("new intermediate CA %q: %w", req.CommonName, err)
	}
	certPEM, err := a.signer.Sign(signer.SignRequest{
		Request:   string(csrPEM),
		Profile:   profileIntermediateCA,
		NotBefore: start,
		NotAfter:  end,
		Extensions: []signer.Extension{{
			ID:       config.OID(oidNameConstraints),
			Critical: true,
			Value:    hex.EncodeToString(der),
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("new intermediate CA %q: cfssl sign: %w", req.CommonName, err)
	}
	inter, err := LoadAuthority(append(certPEM, a.chainPEM...), keyPEM)
	if err != nil {
		return nil, fmt.Errorf("new intermediate CA %q: %w", req.CommonName, err)
	}
	// A CA without its constraints is a CA for every name: never hand one out.
	c := inter.cert
	if !c.PermittedDNSDomainsCritical || len(c.PermittedDNSDomains) != len(req.PermittedDNSDomains) || len(c.PermittedIPRanges) != len(req.PermittedIPRanges) {
		return nil, fmt.Errorf("new intermediate CA %q: signed certificate lacks the requested name constraints", req.CommonName)
	}
	return inter, nil
}
