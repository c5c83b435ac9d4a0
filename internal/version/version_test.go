package version

import (
	"os"
	"regexp"
	"testing"
)

// TestMakefileBuildsWithTheReleaseTags: make build and the Packer plugin's
// agent build use the same tags.
func TestMakefileBuildsWithTheReleaseTags(t *testing.T) {
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^BUILD_TAGS \?= (.*)$`).FindSubmatch(data)
	if m == nil || string(m[1]) != ReleaseTags {
		t.Fatalf("Makefile BUILD_TAGS = %q, want version.ReleaseTags %q", m, ReleaseTags)
	}
	if !regexp.MustCompile(`BUILD_FLAGS = .*-ldflags '` + ReleaseLDFlags + ` `).Match(data) {
		t.Fatalf("Makefile BUILD_FLAGS do not strip with %q", ReleaseLDFlags)
	}
}
