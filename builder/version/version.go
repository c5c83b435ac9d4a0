package version

import "github.com/hashicorp/packer-plugin-sdk/version"

var (
	// Version is the plugin release. It carries no pre-release suffix by
	// default so that `version = ">= 0.1.0"` constraints match a local build.
	Version = "0.1.0"
	// VersionPrerelease is empty for releases, "dev" for snapshots.
	VersionPrerelease = ""
	// VersionMetadata is build metadata (+meta); usually empty.
	VersionMetadata = ""
	// PluginVersion is what main registers with the plugin set.
	PluginVersion = version.NewPluginVersion(Version, VersionPrerelease, VersionMetadata)
)
