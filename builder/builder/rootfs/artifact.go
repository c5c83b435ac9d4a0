package rootfs

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Artifact is a built root file system and its exports in one directory.
type Artifact struct {
	// Dir is output_dir (absolute).
	Dir      string
	Manifest *Manifest
	// StateData answers State; "generated_data" among others.
	StateData map[string]interface{}
}

// BuilderId is BuilderID.
func (a *Artifact) BuilderId() string { return BuilderID }

// Files are manifest.json and the exports; rootfs/ itself is the Id.
func (a *Artifact) Files() []string {
	files := []string{filepath.Join(a.Dir, ManifestName)}
	for _, f := range a.Manifest.Files {
		files = append(files, filepath.Join(a.Dir, f.Name))
	}
	return files
}

// Id is the root file system's directory.
func (a *Artifact) Id() string { return filepath.Join(a.Dir, RootfsDir) }

// String describes the artifact for the build's summary.
func (a *Artifact) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Debian %s root file system in %s", a.Manifest.Suite, a.Id())
	if a.Manifest.EtcdVersion != "" {
		fmt.Fprintf(&b, " with etcd %s", a.Manifest.EtcdVersion)
	}
	for _, f := range a.Manifest.Files {
		fmt.Fprintf(&b, "\n%s: %d bytes, sha256 %s", f.Name, f.Bytes, f.SHA256)
	}
	return b.String()
}

// State answers "etcd_version", "manifest" and what StateData holds.
func (a *Artifact) State(name string) interface{} {
	switch name {
	case "etcd_version":
		return a.Manifest.EtcdVersion
	case "manifest":
		return filepath.Join(a.Dir, ManifestName)
	}
	return a.StateData[name]
}

// Destroy removes the output directory (never across a mount point).
func (a *Artifact) Destroy() error { return removeOutput(a.Dir) }
