package rollout

import (
	"path/filepath"

	"github.com/etcdboot/etcdboot/internal/status"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/spec"
)

// FromSpec fills o from a cluster spec and the generator's PKI: the
// members' client URLs and the admin client certificate.
func (o *Options) FromSpec(specPath, pkiDir string) error {
	c, _, err := spec.LoadCluster(specPath)
	if err != nil {
		return err
	}
	if len(o.Endpoints) == 0 {
		o.Endpoints = status.EndpointsFromCluster(c)
	}
	if o.TLS == (tlsfiles.Files{}) {
		o.TLS = tlsfiles.Files{
			CAFile:   filepath.Join(pkiDir, "ca.crt"),
			CertFile: filepath.Join(pkiDir, "admin.crt"),
			KeyFile:  filepath.Join(pkiDir, "admin.key"),
		}
	}
	return nil
}
