package snapshot

import (
	"path/filepath"

	"github.com/etcdboot/etcdboot/internal/status"
	"github.com/etcdboot/etcdboot/spec"
)

// FromSpec fills opts from a cluster spec and the generator's PKI
// directory: unless set, the members' client URLs, ca.crt and the admin
// client certificate (a snapshot needs more than the healthcheck client).
func (o *SaveOptions) FromSpec(specPath, pkiDir string) error {
	c, _, err := spec.LoadCluster(specPath)
	if err != nil {
		return err
	}
	if len(o.Endpoints) == 0 {
		o.Endpoints = status.EndpointsFromCluster(c)
	}
	if o.TLS.CAFile == "" {
		o.TLS.CAFile = filepath.Join(pkiDir, "ca.crt")
	}
	if o.TLS.CertFile == "" && o.TLS.KeyFile == "" {
		o.TLS.CertFile = filepath.Join(pkiDir, "admin.crt")
		o.TLS.KeyFile = filepath.Join(pkiDir, "admin.key")
	}
	return nil
}
