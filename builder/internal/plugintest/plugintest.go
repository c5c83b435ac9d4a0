// Package plugintest prepares acceptance tests (PACKER_ACC=1): it builds this
// plugin, installs it for the repository's real Packer (bin/packer, made by
// scripts/build-packer.sh) into a private plugin directory, and puts that
// Packer first on PATH, where the SDK's acctest looks for it.
package plugintest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/acctest"
)

// Setup skips t unless PACKER_ACC is set; otherwise it installs the plugin
// and returns the repository root.
func Setup(t testing.TB) string {
	t.Helper()
	if os.Getenv(acctest.TestEnvVar) == "" {
		t.Skipf("acceptance test: set %s=1 to run it (needs root, bin/packer, bin/etcd*)", acctest.TestEnvVar)
	}
	root := RepoRoot(t)
	packer := filepath.Join(root, "bin", "packer")
	if _, err := os.Stat(packer); err != nil {
		t.Fatalf("no Packer at %s: run make packer (scripts/build-packer.sh)", packer)
	}
	plugin := filepath.Join(t.TempDir(), "packer-plugin-etcdboot")
	build := exec.Command("go", "build", "-o", plugin, ".")
	build.Dir = filepath.Join(root, "builder")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the plugin: %v\n%s", err, out)
	}
	t.Setenv("PACKER_PLUGIN_PATH", t.TempDir())
	t.Setenv("CHECKPOINT_DISABLE", "1")
	t.Setenv("PATH", filepath.Join(root, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	install := exec.Command(filepath.Join(root, "builder", "install-plugin.sh"), packer, plugin)
	out, err := install.CombinedOutput()
	if err != nil {
		t.Fatalf("install the plugin: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
	return root
}

// RepoRoot finds the root module's directory above the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/etcdboot/etcdboot\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("not inside the etcdboot repository")
		}
		dir = parent
	}
}

// Tail is the last n lines of a file, for failure messages.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
