package etcdboot

import (
	"context"
	"debug/elf"
	"os/exec"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	release "github.com/etcdboot/etcdboot/internal/version"
)

// TestBuiltAgentIsAReleaseBuild: the agent the provisioner builds from a
// source tree (agent_source) is built as make build builds it, with the
// release tags and stripped, so an image baked by the plugin carries the
// same lean binary: go version -m reads the settings back from it.
func TestBuiltAgentIsAReleaseBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent")
	}
	out, cleanup, err := buildAgent(context.Background(), &packersdk.BasicUi{Writer: testWriter{t}, ErrorWriter: testWriter{t}}, "../../..")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	info, err := exec.Command("go", "version", "-m", out).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v: %s", err, info)
	}
	for _, want := range []string{"-tags=" + release.ReleaseTags, "-trimpath=true"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("the built agent's settings lack %s:\n%s", want, info)
		}
	}
	// -trimpath keeps -ldflags out of the settings: the ELF file shows
	// whether -s -w stripped it.
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range []string{".symtab", ".debug_info"} {
		if f.Section(name) != nil {
			t.Errorf("the built agent has a %s section: not stripped with %q", name, release.ReleaseLDFlags)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
