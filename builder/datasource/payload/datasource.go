package payload

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/hcl2helper"
	"github.com/zclconf/go-cty/cty"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/ignition"
)

// Datasource is the "etcdboot-payload" data source.
type Datasource struct {
	config Config
}

// ConfigSpec is the HCL2 schema of Config.
func (d *Datasource) ConfigSpec() hcldec.ObjectSpec { return d.config.FlatMapstructure().HCL2Spec() }

// Configure decodes and checks the configuration.
func (d *Datasource) Configure(raws ...interface{}) error { return d.config.Prepare(raws...) }

// OutputSpec is the HCL2 schema of DatasourceOutput.
func (d *Datasource) OutputSpec() hcldec.ObjectSpec {
	return (&DatasourceOutput{}).FlatMapstructure().HCL2Spec()
}

// Execute runs the generator and renders the chosen payload.
func (d *Datasource) Execute() (cty.Value, error) {
	out, err := Render(d.config)
	if err != nil {
		return cty.NullVal(cty.EmptyObject), err
	}
	return hcl2helper.HCL2ValueFromConfig(out, d.OutputSpec()), nil
}

// Render runs generate.Run for c and picks c.Node's payload in c.Format.
func Render(c Config) (DatasourceOutput, error) {
	res, err := generate.Run(generate.Options{SpecPath: c.ClusterSpec, OutDir: c.OutDir})
	if err != nil {
		return DatasourceOutput{}, fmt.Errorf("etcdboot-payload: %w", err)
	}
	out := DatasourceOutput{Nodes: []string{}}
	for _, n := range res.Nodes {
		out.Nodes = append(out.Nodes, n.Name)
	}
	node, err := pick(res, c.Node)
	if err != nil {
		return DatasourceOutput{}, fmt.Errorf("etcdboot-payload: %s: %w", c.ClusterSpec, err)
	}
	out.NodeDir = node.Dir
	var data []byte
	switch c.Format {
	case FormatIgnition:
		data, err = ignition.RenderIgnition(node.Bundle, res.Cluster.Payload.IgnitionVariant)
	default:
		data, err = ignition.RenderCloudInit(node.Bundle)
	}
	if err != nil {
		return DatasourceOutput{}, fmt.Errorf("etcdboot-payload: %w", err)
	}
	out.UserData = string(data)
	return out, nil
}

// pick finds the payload named node: a member, or the launch payload when
// node is empty.
func pick(res *generate.Result, node string) (*generate.Node, error) {
	if node == "" {
		if res.Launch != nil {
			return res.Launch, nil
		}
		names := make([]string, 0, len(res.Nodes))
		for _, n := range res.Nodes {
			names = append(names, n.Name)
		}
		return nil, fmt.Errorf("the spec has no autoscaling group, so there is no launch payload; set node to one of: %s", strings.Join(names, ", "))
	}
	for i := range res.Nodes {
		if res.Nodes[i].Name == node {
			return &res.Nodes[i], nil
		}
	}
	if res.Launch != nil {
		return nil, fmt.Errorf("node %q: an autoscaling spec has no per-member payloads; leave node empty for the launch payload", node)
	}
	names := make([]string, 0, len(res.Nodes))
	for _, n := range res.Nodes {
		names = append(names, n.Name)
	}
	return nil, fmt.Errorf("node %q is not a member; use one of: %s", node, strings.Join(names, ", "))
}
