package bootstrap

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/internal/atomicfile"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/pki"
)

// issuerLifeWarnEvery is how often the watcher repeats its warning about an
// issuer with less than a third of its life left.
const issuerLifeWarnEvery = time.Hour

// issuerFollower is what the watcher remembers of the group's issuer between
// renewals, so that each published value is logged and counted once and
// the life warning does not fill the journal.
type issuerFollower struct {
	// checked is the mod revision of the published value last checked.
	checked int64
	// warned is when the life warning was last logged.
	warned time.Time
}

// followIssuer reads the issuer published at pki.PublishedIssuerKey and,
// when pki.CheckRenewedIssuer accepts it in place of the payload's issuer
// files, installs it there, so the renewal that follows already mints with
// it. A refused one leaves the files as they are and is logged with why.
// Errors reading the cluster are only logged: the next renewal tries again.
func (a *Agent) followIssuer(ctx context.Context, cli *clientv3.Client, n node, f *issuerFollower) {
	kv := a.readPublished(ctx, cli, pki.PublishedIssuerKey)
	if kv == nil {
		return
	}
	first := kv.ModRevision != f.checked
	f.checked = kv.ModRevision
	installed, err := a.installPublishedIssuer(n, kv.Value)
	switch {
	case errors.Is(err, pki.ErrIssuerUnchanged):
	case err != nil:
		// Refused for good until someone publishes again, or until the
		// clock catches up with one not valid yet: said once per value.
		if first {
			a.log.Warn("refused the issuer published to the group; keeping the one in use",
				"key", pki.PublishedIssuerKey, "revision", kv.ModRevision, "err", err)
			a.issuerRenewal(monitoring.PublishedRefused)
		}
	default:
		c := installed.Certificate()
		a.log.Info("installed the issuer published to the group; certificates are renewed with it from now on",
			"key", pki.PublishedIssuerKey, "revision", kv.ModRevision, "serial", c.SerialNumber.Text(16),
			"not_after", c.NotAfter.UTC().Format(time.RFC3339))
		a.issuerRenewal(monitoring.PublishedInstalled)
	}
}

// readPublished reads what etcdboot certs rotate published at key, or nil
// when nothing is there or the cluster does not answer now (logged at
// debug: the next renewal reads again).
func (a *Agent) readPublished(ctx context.Context, cli *clientv3.Client, key string) *mvccpb.KeyValue {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := cli.Get(rctx, key)
	cancel()
	if err != nil {
		a.log.Debug("watch: published value not readable now", "key", key, "err", err)
		return nil
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	return resp.Kvs[0]
}

// installPublishedIssuer checks value against the node's issuer and CA
// files and, when it passes, replaces the issuer's key and certificate
// files with it, each atomically and with the owner and modes they had.
// The certificate file gets the issuer with the chain it was published
// with (the cross-certificate of a CA rotation), which every certificate
// minted with it then carries.
func (a *Agent) installPublishedIssuer(n node, value []byte) (*pki.Authority, error) {
	pub, err := pki.ParsePublishedIssuer(value)
	if err != nil {
		return nil, err
	}
	t := n.payload.TLS
	certPath, keyPath := a.path(t.IssuerCertFile), a.path(t.IssuerKeyFile)
	current, err := readFirstCert(certPath)
	if err != nil {
		return nil, fmt.Errorf("tls.issuerCertFile: %w", err)
	}
	roots, err := pki.ReadCertificates(a.path(t.CAFile))
	if err != nil {
		return nil, fmt.Errorf("tls.caFile: %w", err)
	}
	next, err := pki.CheckRenewedIssuer(current, pub, roots, a.cfg.Now())
	if err != nil {
		return nil, err
	}
	// The key goes first: a crash between the two leaves a pair that does
	// not match, which minting refuses, and the next renewal installs the
	// published issuer again.
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{keyPath, next.KeyPEM(), 0o600}, {certPath, next.ChainPEM(), 0o644}} {
		owner, err := os.Stat(f.path)
		if err != nil {
			return nil, fmt.Errorf("install the published issuer: %w", err)
		}
		if err := atomicfile.Write(f.path, f.data, f.mode); err != nil {
			return nil, fmt.Errorf("install the published issuer: %w", err)
		}
		// Minted certificates take the issuer key's owner (etcd on a
		// node), so the new files must keep the old ones' owner.
		if err := chownLike(owner, f.path); err != nil {
			return nil, fmt.Errorf("install the published issuer: %w", err)
		}
	}
	return next, nil
}

// watchIssuerLife exports the validity of the issuer in use and warns,
// once every issuerLifeWarnEvery, while less than a third of its life is
// left: from then on every certificate minted with it ends when it does.
func (a *Agent) watchIssuerLife(n node, f *issuerFollower) {
	c, err := readFirstCert(a.path(n.payload.TLS.IssuerCertFile))
	if err != nil {
		a.log.Warn("watch: the group's issuer", "err", err)
		return
	}
	if a.issuerMetrics != nil {
		a.issuerMetrics.SetValidity(c.NotBefore, c.NotAfter)
	}
	now := a.cfg.Now()
	left, life := c.NotAfter.Sub(now), c.NotAfter.Sub(c.NotBefore)
	if left >= life/3 || now.Sub(f.warned) < issuerLifeWarnEvery {
		return
	}
	f.warned = now
	a.log.Warn("the group's issuer has less than a third of its life left; once it expires no member can renew its certificates: run etcdboot certs rotate --issuer",
		"serial", c.SerialNumber.Text(16), "not_after", c.NotAfter.UTC().Format(time.RFC3339), "left", left.Round(time.Second).String())
}

func (a *Agent) issuerRenewal(result string) {
	if a.issuerMetrics != nil {
		a.issuerMetrics.RenewalChecked(result)
	}
}

// readFirstCert parses the first certificate of a PEM file.
func readFirstCert(path string) (*x509.Certificate, error) {
	certs, err := pki.ReadCertificates(path)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}
