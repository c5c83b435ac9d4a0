// Package version holds the plugin's version, reported to Packer by the
// plugin's `describe` command and used in its installed file name.
package version
