package payload

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
)

// example is a cluster spec from the repository's examples/.
func example(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "..", "examples", name, "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigureReportsEveryProblem(t *testing.T) {
	spec := example(t, "three-node-static")
	for _, tc := range []struct {
		name string
		raw  map[string]interface{}
		want []string
	}{
		{"ok", map[string]interface{}{"cluster_spec": spec, "out_dir": t.TempDir(), "node": "etcd1"}, nil},
		{"ignition", map[string]interface{}{"cluster_spec": spec, "out_dir": t.TempDir(), "format": "ignition"}, nil},
		{"nothing", map[string]interface{}{}, []string{"cluster_spec is required", "out_dir is required"}},
		{"missing spec", map[string]interface{}{"cluster_spec": "/nope.yaml", "out_dir": "x"}, []string{"cluster_spec:", "no such file"}},
		{"bad format", map[string]interface{}{"cluster_spec": spec, "out_dir": "x", "format": "userdata"}, []string{`format "userdata": use "cloud-init" or "ignition"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Datasource{}
			err := d.Configure(tc.raw)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Configure succeeded; want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

func TestExecuteRendersTheNodesUserData(t *testing.T) {
	out := t.TempDir()
	d := &Datasource{}
	if err := d.Configure(map[string]interface{}{"cluster_spec": example(t, "three-node-static"), "out_dir": out, "node": "etcd2"}); err != nil {
		t.Fatal(err)
	}
	v, err := d.Execute()
	if err != nil {
		t.Fatal(err)
	}
	if !v.Type().IsObjectType() {
		t.Fatalf("Execute returned %s", v.Type().FriendlyName())
	}
	ud := v.GetAttr("user_data").AsString()
	if !strings.HasPrefix(ud, "#cloud-config\n") || !strings.Contains(ud, "hostname: etcd2") {
		t.Errorf("user_data is not etcd2's cloud-config:\n%.300s", ud)
	}
	var nodes []string
	for _, n := range v.GetAttr("nodes").AsValueSlice() {
		nodes = append(nodes, n.AsString())
	}
	if !slices.Equal(nodes, []string{"etcd1", "etcd2", "etcd3"}) {
		t.Errorf("nodes = %v", nodes)
	}
	if got := v.GetAttr("node_dir"); got != cty.StringVal(filepath.Join(out, "nodes", "etcd2")) {
		t.Errorf("node_dir = %#v", got)
	}
	// The generator's tree is there too, CA key and all, outside the image.
	if _, err := os.Stat(filepath.Join(out, "nodes", "etcd2", "node.yaml")); err != nil {
		t.Error(err)
	}
}

func TestRenderIgnitionAndLaunchPayload(t *testing.T) {
	got, err := Render(Config{ClusterSpec: example(t, "autoscaling"), OutDir: t.TempDir(), Format: FormatIgnition})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.UserData, `{"ignition":{"version":"3.4.0"`) {
		t.Errorf("user_data is not Ignition JSON: %.120s", got.UserData)
	}
	if len(got.Nodes) != 0 || filepath.Base(got.NodeDir) != "launch" {
		t.Errorf("an autoscaling spec has no members and a launch payload: nodes %v, dir %s", got.Nodes, got.NodeDir)
	}
}

func TestRenderNamesTheChoices(t *testing.T) {
	for _, tc := range []struct {
		spec, node, want string
	}{
		{"three-node-static", "", "no launch payload; set node to one of: etcd1, etcd2, etcd3"},
		{"three-node-static", "etcd9", `node "etcd9" is not a member; use one of: etcd1, etcd2, etcd3`},
		{"autoscaling", "etcd-1", "leave node empty for the launch payload"},
	} {
		_, err := Render(Config{ClusterSpec: example(t, tc.spec), OutDir: t.TempDir(), Node: tc.node, Format: FormatCloudInit})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s node %q: %v; want %q", tc.spec, tc.node, err, tc.want)
		}
	}
}

func TestSpecsNameEverySetting(t *testing.T) {
	d := &Datasource{}
	for _, key := range []string{"cluster_spec", "out_dir", "node", "format"} {
		if _, ok := d.ConfigSpec()[key]; !ok {
			t.Errorf("config spec lacks %q; run go generate ./...", key)
		}
	}
	for _, key := range []string{"user_data", "nodes", "node_dir"} {
		if _, ok := d.OutputSpec()[key]; !ok {
			t.Errorf("output spec lacks %q; run go generate ./...", key)
		}
	}
}
