//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config,DatasourceOutput

package payload

import (
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

// Payload formats, as in a cluster spec's payload.formats.
const (
	FormatCloudInit = "cloud-init"
	FormatIgnition  = "ignition"
)

// Config is the data source's configuration.
type Config struct {
	// ClusterSpec is the cluster spec file (etcdboot generate -f).
	ClusterSpec string `mapstructure:"cluster_spec" required:"true"`
	// OutDir receives the generator's tree (pki/ with the CA key, nodes/, dns/
	// ...). Required: keep it outside the image and out of version control.
	OutDir string `mapstructure:"out_dir" required:"true"`
	// Node picks a member; empty means the launch payload of an autoscaling
	// spec (a spec with members needs a node).
	Node string `mapstructure:"node"`
	// Format is "cloud-init" (default) or "ignition".
	Format string `mapstructure:"format"`
}

// DatasourceOutput is what the template reads from data.etcdboot-payload.NAME.
type DatasourceOutput struct {
	// UserData is the node's (or the launch group's) rendered user-data.
	UserData string `mapstructure:"user_data"`
	// Nodes are the member names the spec defines.
	Nodes []string `mapstructure:"nodes"`
	// NodeDir is out_dir/nodes/<node or launch>, with node.yaml and hosts.
	NodeDir string `mapstructure:"node_dir"`
}

// Prepare decodes raws into c, applies defaults and reports every problem.
func (c *Config) Prepare(raws ...interface{}) error {
	if err := config.Decode(c, nil, raws...); err != nil {
		return err
	}
	if c.Format == "" {
		c.Format = FormatCloudInit
	}
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ClusterSpec == "" {
		add("cluster_spec is required: give the cluster spec file (see examples/)")
	} else if _, err := os.Stat(c.ClusterSpec); err != nil {
		add("cluster_spec: %w", err)
	}
	if c.OutDir == "" {
		add("out_dir is required: give a directory for the generated PKI and payloads, outside the image")
	}
	if c.Format != FormatCloudInit && c.Format != FormatIgnition {
		add("format %q: use %q or %q", c.Format, FormatCloudInit, FormatIgnition)
	}
	return errors.Join(errs...)
}
