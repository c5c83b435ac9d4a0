package ignition

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestGolden pins the renderings of the three-member placeholder bundle.
// Run `go test ./ignition/ -run TestGolden -update` after an intended change
// and review the diff.
func TestGolden(t *testing.T) {
	b := placeholderBundle()
	goldens := []struct {
		file   string
		render func() ([]byte, error)
	}{
		{"three-node.fcos.bu", func() ([]byte, error) { return RenderButane(b, VariantFCOS) }},
		{"three-node.fcos.ign", func() ([]byte, error) { return RenderIgnition(b, VariantFCOS) }},
		{"three-node.flatcar.bu", func() ([]byte, error) { return RenderButane(b, VariantFlatcar) }},
		{"three-node.flatcar.ign", func() ([]byte, error) { return RenderIgnition(b, VariantFlatcar) }},
		{"three-node.user-data", func() ([]byte, error) { return RenderCloudInit(b) }},
		{"three-node.hosts", func() ([]byte, error) { return []byte(HostsEntries(b.Payload.Members)), nil }},
	}
	for _, g := range goldens {
		t.Run(g.file, func(t *testing.T) {
			got, err := g.render()
			if err != nil {
				t.Fatal(err)
			}
			again, err := g.render()
			if err != nil || !bytes.Equal(got, again) {
				t.Fatalf("two renderings differ (err %v): a golden file would be flaky", err)
			}
			path := filepath.Join("testdata", g.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendering (run with -update if the change is intended)\n got:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
	t.Run("user-data passes cloud-init schema", func(t *testing.T) {
		requireCloudInit(t)
		if err := cloudInitSchema(filepath.Join("testdata", "three-node.user-data")); err != nil {
			t.Error(err)
		}
	})
	for _, f := range []string{"three-node.fcos.ign", "three-node.flatcar.ign"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateIgnition(data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
