package payload

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/acctest"
	"github.com/hashicorp/packer-plugin-sdk/acctest/testutils"

	"github.com/etcdboot/etcdboot/builder/internal/plugintest"
)

// TestAccPayloadInTemplate runs the real Packer on a template that reads the
// data source and records its outputs through the manifest post-processor.
func TestAccPayloadInTemplate(t *testing.T) {
	root := plugintest.Setup(t)
	out := t.TempDir()
	manifest := filepath.Join(out, "packer-manifest.json")
	template := fmt.Sprintf(`packer {
  required_plugins {
    etcdboot = {
      version = ">= 0.1.0"
      source  = "github.com/etcdboot/etcdboot"
    }
  }
}

data "etcdboot-payload" "member" {
  cluster_spec = %q
  out_dir      = %q
  node         = "etcd3"
}

source "null" "none" {
  communicator = "none"
}

build {
  sources = ["source.null.none"]
  post-processor "manifest" {
    output = %q
    custom_data = {
      nodes     = join(",", data.etcdboot-payload.member.nodes)
      node_dir  = data.etcdboot-payload.member.node_dir
      user_data = data.etcdboot-payload.member.user_data
    }
  }
}
`, filepath.Join(root, "examples", "three-node-static", "cluster.yaml"), filepath.Join(out, "gen"), manifest)

	acctest.TestPlugin(t, &acctest.PluginTestCase{
		Name:     "etcdboot_payload_datasource",
		Type:     "etcdboot-payload",
		Template: strings.ReplaceAll(template, "%", "%%"),
		Check: func(cmd *exec.Cmd, logfile string) error {
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				return fmt.Errorf("packer build exited %d:\n%s", code, plugintest.Tail(logfile, 40))
			}
			m, err := testutils.GetArtifact(manifest)
			if err != nil {
				return err
			}
			if len(m.Builds) != 1 {
				return fmt.Errorf("manifest has %d builds", len(m.Builds))
			}
			data := m.Builds[0].CustomData
			var errs []error
			if data["nodes"] != "etcd1,etcd2,etcd3" {
				errs = append(errs, fmt.Errorf("nodes = %q", data["nodes"]))
			}
			want, err := os.ReadFile(filepath.Join(out, "gen", "nodes", "etcd3", "user-data"))
			if err != nil {
				errs = append(errs, err)
			} else if data["user_data"] != string(want) {
				errs = append(errs, fmt.Errorf("user_data differs from what the generator wrote for etcd3:\n%.200s", data["user_data"]))
			}
			if !strings.Contains(data["user_data"], "hostname: etcd3") {
				errs = append(errs, errors.New("user_data is not etcd3's"))
			}
			return errors.Join(errs...)
		},
	})
}
