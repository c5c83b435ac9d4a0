package rotation

import (
	"path/filepath"

	"github.com/etcdboot/etcdboot/internal/monitoring"
	"github.com/etcdboot/etcdboot/internal/status"
	"github.com/etcdboot/etcdboot/spec"
)

// DefaultPKIDir is the generator's PKI directory FromSpec uses when
// opts.Dir is empty.
var DefaultPKIDir = filepath.Join("out", "pki")

// FromSpec fills opts from a cluster spec and the generator's PKI directory
// (opts.Dir, default DefaultPKIDir): the members' client endpoints unless
// set, the healthcheck-client certificate to present to them unless a client
// certificate is set, and unless set the threshold of the
// etcdbootCertificateExpiringSoon alert, which is shorter than
// DefaultThreshold for short-lived certificates (an autoscaling group's).
// The directory's ca.crt is the trust anchor.
func FromSpec(opts *CheckOptions, specPath string) error {
	c, _, err := spec.LoadCluster(specPath)
	if err != nil {
		return err
	}
	if len(opts.Endpoints) == 0 {
		opts.Endpoints = status.EndpointsFromCluster(c)
	}
	if opts.Dir == "" {
		opts.Dir = DefaultPKIDir
	}
	if opts.Threshold == 0 {
		opts.Threshold = monitoring.RuleOptionsFor(c).CertExpiryWarning
	}
	if opts.CertFile == "" && opts.KeyFile == "" {
		opts.CertFile = filepath.Join(opts.Dir, "healthcheck-client.crt")
		opts.KeyFile = filepath.Join(opts.Dir, "healthcheck-client.key")
	}
	return nil
}
