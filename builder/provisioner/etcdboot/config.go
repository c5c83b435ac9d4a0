//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config

package etcdboot

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// Config is the provisioner's configuration.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// AgentPath is a built etcdboot-agent binary for the image's architecture.
	// Give this or AgentSource.
	AgentPath string `mapstructure:"agent_path"`
	// AgentSource is an etcdboot source tree; the agent is built from it
	// (`go build ./cmd/etcdboot-agent`, CGO disabled) when AgentPath is empty.
	AgentSource string `mapstructure:"agent_source"`
	// AgentSHA256, when set, must be the hex SHA-256 of the agent binary.
	AgentSHA256 string `mapstructure:"agent_sha256"`

	// EtcdPath is the etcd server binary. Required.
	EtcdPath string `mapstructure:"etcd_path" required:"true"`
	// EtcdctlPath defaults to "etcdctl" beside EtcdPath.
	EtcdctlPath string `mapstructure:"etcdctl_path"`
	// EtcdutlPath defaults to "etcdutl" beside EtcdPath.
	EtcdutlPath string `mapstructure:"etcdutl_path"`
	// EtcdSHA256, EtcdctlSHA256 and EtcdutlSHA256, when set, must be the hex
	// SHA-256 of the binaries; a mismatch fails the build before any upload.
	EtcdSHA256    string `mapstructure:"etcd_sha256"`
	EtcdctlSHA256 string `mapstructure:"etcdctl_sha256"`
	EtcdutlSHA256 string `mapstructure:"etcdutl_sha256"`
	// EtcdVersion, when set (for example "3.6.16"), must equal what the
	// uploaded `etcd --version` reports on the target.
	EtcdVersion string `mapstructure:"etcd_version"`

	// StagingDir is where files are uploaded before they are installed; it is
	// removed afterwards. Default /tmp/etcdboot-provision.
	StagingDir string `mapstructure:"staging_dir"`
	// ExecuteCommand runs each generated script on the target; {{.Path}} is
	// the script. Default "/bin/sh {{.Path}}"; for a non-root SSH user use
	// "sudo -n /bin/sh {{.Path}}".
	ExecuteCommand string `mapstructure:"execute_command"`

	ctx interpolate.Context
}

// Defaults of the optional settings.
const (
	DefaultStagingDir     = "/tmp/etcdboot-provision"
	DefaultExecuteCommand = "/bin/sh {{.Path}}"
)

var (
	hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// A staging dir goes into commands unquoted by some communicators
	// (the chroot one wraps commands in a host shell): keep it plain.
	plainPath = regexp.MustCompile(`^/[A-Za-z0-9._/-]+$`)
)

// Prepare decodes raws into c, applies defaults and reports every problem.
func (c *Config) Prepare(raws ...interface{}) error {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         "etcdboot",
		Interpolate:        true,
		InterpolateContext: &c.ctx,
		InterpolateFilter:  &interpolate.RenderFilter{Exclude: []string{"execute_command"}},
	}, raws...)
	if err != nil {
		return err
	}
	if c.StagingDir == "" {
		c.StagingDir = DefaultStagingDir
	}
	if c.ExecuteCommand == "" {
		c.ExecuteCommand = DefaultExecuteCommand
	}
	if c.EtcdPath != "" {
		if c.EtcdctlPath == "" {
			c.EtcdctlPath = filepath.Join(filepath.Dir(c.EtcdPath), "etcdctl")
		}
		if c.EtcdutlPath == "" {
			c.EtcdutlPath = filepath.Join(filepath.Dir(c.EtcdPath), "etcdutl")
		}
	}
	c.EtcdVersion = strings.TrimPrefix(c.EtcdVersion, "v")

	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.AgentPath == "" && c.AgentSource == "":
		add("agent_path or agent_source: give the etcdboot-agent binary (agent_path) or an etcdboot source tree to build it from (agent_source)")
	case c.AgentPath != "" && c.AgentSource != "":
		add("agent_path and agent_source are both set: give only one")
	case c.AgentPath != "":
		if err := regularFile(c.AgentPath); err != nil {
			add("agent_path: %w", err)
		}
	default:
		if _, err := os.Stat(filepath.Join(c.AgentSource, "cmd", "etcdboot-agent")); err != nil {
			add("agent_source %q: no cmd/etcdboot-agent in it; give the root of an etcdboot source tree", c.AgentSource)
		}
	}
	if c.EtcdPath == "" {
		add("etcd_path is required: give the etcd server binary (make etcd builds one into bin/)")
	} else {
		for _, f := range []struct{ field, path string }{
			{"etcd_path", c.EtcdPath}, {"etcdctl_path", c.EtcdctlPath}, {"etcdutl_path", c.EtcdutlPath},
		} {
			if err := regularFile(f.path); err != nil {
				add("%s: %w", f.field, err)
			}
		}
	}
	for _, d := range []struct{ field, value string }{
		{"agent_sha256", c.AgentSHA256}, {"etcd_sha256", c.EtcdSHA256},
		{"etcdctl_sha256", c.EtcdctlSHA256}, {"etcdutl_sha256", c.EtcdutlSHA256},
	} {
		if d.value != "" && !hexSHA256.MatchString(d.value) {
			add("%s %q: not a SHA-256 digest; give 64 lower-case hex digits (sha256sum prints them)", d.field, d.value)
		}
	}
	if c.EtcdVersion != "" && !regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(c.EtcdVersion) {
		add("etcd_version %q: give a version such as 3.6.16", c.EtcdVersion)
	}
	if !plainPath.MatchString(c.StagingDir) || path.Clean(c.StagingDir) != c.StagingDir || c.StagingDir == "/" {
		add("staging_dir %q: give a clean absolute path of letters, digits, '.', '_', '-' and '/', such as %s", c.StagingDir, DefaultStagingDir)
	}
	if !strings.Contains(c.ExecuteCommand, "{{.Path}}") {
		add("execute_command %q: it must run the script {{.Path}}, for example %q", c.ExecuteCommand, DefaultExecuteCommand)
	}
	return errors.Join(errs...)
}

// regularFile checks that p names an existing regular file.
func regularFile(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return fmt.Errorf("%w; give the path of an existing file", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", p)
	}
	return nil
}
