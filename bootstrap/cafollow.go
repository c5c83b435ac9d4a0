package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"os"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/internal/atomicfile"
	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/pki"
)

// followPublishedCA reads the CA bundle published at pki.PublishedCAKey by
// a group's CA rotation (etcdboot certs rotate --ca) and, when
// pki.CheckPublishedCA accepts it in place of the node's CA file, installs
// it there. It runs before followIssuer, so that an issuer of the new CA
// published in the same phase is checked against the new bundle. A refused
// bundle leaves the file as it is and is logged with why, once per
// published value (checked holds the mod revision last looked at). Errors
// reading the cluster are only logged: the next renewal tries again.
//
// etcd reads its CA file only when it starts: the running member goes on
// trusting what it loaded, and a rotation's certificates carry the
// cross-certificate that chains them to the old CA for it. The file
// matters for the next start, and for this node's clients.
func (a *Agent) followPublishedCA(ctx context.Context, cli *clientv3.Client, n node, checked *int64) {
	kv := a.readPublished(ctx, cli, pki.PublishedCAKey)
	if kv == nil {
		return
	}
	first := kv.ModRevision != *checked
	*checked = kv.ModRevision
	err := a.installPublishedCA(n, kv.Value)
	switch {
	case errors.Is(err, pki.ErrCAUnchanged):
	case err != nil:
		if first {
			a.log.Warn("refused the CA bundle published to the group; keeping the installed one",
				"key", pki.PublishedCAKey, "revision", kv.ModRevision, "err", err)
			a.caBundleChecked(monitoring.PublishedRefused)
		}
	default:
		a.log.Info("installed the CA bundle published to the group", "key", pki.PublishedCAKey, "revision", kv.ModRevision,
			"file", a.path(n.payload.TLS.CAFile))
		a.caBundleChecked(monitoring.PublishedInstalled)
	}
}

// installPublishedCA checks bundle against the node's CA file and the
// issuer it mints with and, when it passes, replaces the CA file with it
// atomically, keeping the file's owner and mode.
func (a *Agent) installPublishedCA(n node, bundle []byte) error {
	t := n.payload.TLS
	caPath := a.path(t.CAFile)
	installed, err := pki.ReadCertificates(caPath)
	if err != nil {
		return fmt.Errorf("tls.caFile: %w", err)
	}
	issuerChain, err := pki.ReadCertificates(a.path(t.IssuerCertFile))
	if err != nil {
		return fmt.Errorf("tls.issuerCertFile: %w", err)
	}
	if _, err := pki.CheckPublishedCA(installed, bundle, issuerChain, a.cfg.Now()); err != nil {
		return err
	}
	st, err := os.Stat(caPath)
	if err != nil {
		return fmt.Errorf("install the published CA bundle: %w", err)
	}
	if err := atomicfile.Write(caPath, bundle, st.Mode().Perm()); err != nil {
		return fmt.Errorf("install the published CA bundle: %w", err)
	}
	if err := chownLike(st, caPath); err != nil {
		return fmt.Errorf("install the published CA bundle: %w", err)
	}
	return nil
}

func (a *Agent) caBundleChecked(result string) {
	if a.issuerMetrics != nil {
		a.issuerMetrics.CABundleChecked(result)
	}
}
