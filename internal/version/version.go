package version

import "runtime/debug"

// Version is the release; "dev" for a build from a work tree.
var Version = "dev"

// String is the version plus the VCS revision when the build recorded one.
func String() string {
	v := Version
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}

// ReleaseTags are the build tags of every release build of etcdboot's
// binaries (the Makefile's BUILD_TAGS, the Packer plugin's agent): they
// cut what the binaries link without a feature lost. grpcnotrace leaves out
// gRPC's x/net/trace, whose html/template makes the linker keep every
// exported method of every linked type; disable_grpc_modules leaves out
// the Cloud Storage client's DirectPath (gRPC xDS and RLS); gs:// targets
// use its HTTP API. arrow_json_stdlib has apache/arrow-go (linked by the
// azblob client for blob queries, which azblob:// targets never make)
// encode JSON with encoding/json instead of linking goccy/go-json.
const ReleaseTags = "grpcnotrace,disable_grpc_modules,arrow_json_stdlib"

// ReleaseLDFlags strip the symbol table and DWARF from release builds.
const ReleaseLDFlags = "-s -w"
