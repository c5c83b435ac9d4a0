package status

import (
	"path/filepath"

	"github.com/etcdboot/etcdboot/spec"
)

// FromSpec fills opts from a cluster spec and the generator's PKI directory:
// the members' endpoints and, unless set, ca.crt and the healthcheck-client
// certificate.
func FromSpec(opts *Options, specPath, pkiDir string) error {
	c, _, err := spec.LoadCluster(specPath)
	if err != nil {
		return err
	}
	if len(opts.Endpoints) == 0 {
		opts.Endpoints = EndpointsFromCluster(c)
	}
	if opts.CAFile == "" {
		opts.CAFile = filepath.Join(pkiDir, "ca.crt")
	}
	if opts.CertFile == "" && opts.KeyFile == "" {
		opts.CertFile = filepath.Join(pkiDir, "healthcheck-client.crt")
		opts.KeyFile = filepath.Join(pkiDir, "healthcheck-client.key")
	}
	return nil
}
