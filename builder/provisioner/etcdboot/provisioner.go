package etcdboot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"

	"github.com/etcdboot/etcdboot/builder/version"
	"github.com/etcdboot/etcdboot/ignition"
	"github.com/etcdboot/etcdboot/images"
	release "github.com/etcdboot/etcdboot/internal/version"
)

// ImageRecordPath is where the provisioner records what it put into the
// image; the rootfs builder copies it into its manifest.
const ImageRecordPath = "/usr/lib/etcdboot/image.json"

// binDir is where the binaries go, the paths the units name.
const binDir = "/usr/local/bin"

// ImageRecord is the content of ImageRecordPath.
type ImageRecord struct {
	EtcdVersion   string   `json:"etcd_version"`
	EtcdSHA256    string   `json:"etcd_sha256"`
	EtcdctlSHA256 string   `json:"etcdctl_sha256"`
	EtcdutlSHA256 string   `json:"etcdutl_sha256"`
	AgentSHA256   string   `json:"agent_sha256"`
	Units         []string `json:"units"`
	PluginVersion string   `json:"plugin_version"`
}

// Provisioner is the "etcdboot" provisioner.
type Provisioner struct {
	config Config
}

// ConfigSpec is the HCL2 schema of Config.
func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec { return p.config.FlatMapstructure().HCL2Spec() }

// Prepare decodes and checks the configuration.
func (p *Provisioner) Prepare(raws ...interface{}) error { return p.config.Prepare(raws...) }

// upload is one file sent to the staging dir.
type upload struct {
	name string // relative to the staging dir
	data []byte
}

// Provision installs, records, hardens and verifies, in that order; any
// failure stops the build.
func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, _ map[string]interface{}) error {
	c := &p.config
	agentPath := c.AgentPath
	if agentPath == "" {
		built, cleanup, err := buildAgent(ctx, ui, c.AgentSource)
		if err != nil {
			return err
		}
		defer cleanup()
		agentPath = built
	}

	ui.Say("etcdboot: checking binaries")
	var uploads []upload
	var bins []binary
	for _, b := range []struct{ name, path, want, field string }{
		{"etcdboot-agent", agentPath, c.AgentSHA256, "agent_sha256"},
		{"etcd", c.EtcdPath, c.EtcdSHA256, "etcd_sha256"},
		{"etcdctl", c.EtcdctlPath, c.EtcdctlSHA256, "etcdctl_sha256"},
		{"etcdutl", c.EtcdutlPath, c.EtcdutlSHA256, "etcdutl_sha256"},
	} {
		data, err := os.ReadFile(b.path)
		if err != nil {
			return fmt.Errorf("read %s: %w", b.name, err)
		}
		sum := sha256.Sum256(data)
		got := hex.EncodeToString(sum[:])
		if b.want != "" && got != b.want {
			return fmt.Errorf("%s (%s) has SHA-256 %s but %s says %s; use the binary the digest was taken from, or update %s", b.name, b.path, got, b.field, b.want, b.field)
		}
		ui.Say(fmt.Sprintf("%s: sha256 %s", b.name, got))
		bins = append(bins, binary{Name: b.name, SHA256: got})
		uploads = append(uploads, upload{name: b.name, data: data})
	}
	for _, name := range append(append([]string{}, images.UnitNames...), images.DormantUnitNames()...) {
		data, err := images.Units.ReadFile("systemd/" + name)
		if err != nil {
			return fmt.Errorf("read embedded unit %s: %w", name, err)
		}
		uploads = append(uploads, upload{name: "units/" + name, data: data})
	}
	install, err := renderInstall(installPlan{
		Staging: c.StagingDir, BinDir: binDir, Binaries: bins,
		UnitDir: images.UnitDir, Units: images.UnitNames, Dormant: images.DormantUnitNames(), User: ignition.EtcdUser,
	})
	if err != nil {
		return err
	}
	harden, err := renderHarden(hardenPlan{})
	if err != nil {
		return err
	}
	verify, err := renderVerify(hardenPlan{})
	if err != nil {
		return err
	}
	uploads = append(uploads,
		upload{name: "install.sh", data: install},
		upload{name: "harden.sh", data: harden},
		upload{name: "verify.sh", data: verify})

	ui.Say(fmt.Sprintf("etcdboot: uploading to %s", c.StagingDir))
	if _, err := p.run(ctx, comm, ui, fmt.Sprintf("mkdir -p %s/units", c.StagingDir)); err != nil {
		return err
	}
	for _, u := range uploads {
		if err := comm.Upload(path.Join(c.StagingDir, u.name), bytes.NewReader(u.data), nil); err != nil {
			return fmt.Errorf("upload %s to %s: %w", u.name, c.StagingDir, err)
		}
	}

	ui.Say("etcdboot: installing binaries and units, enabling " + strings.Join(images.UnitNames, ", "))
	if _, err := p.runScript(ctx, comm, ui, "install.sh"); err != nil {
		return err
	}

	out, err := p.run(ctx, comm, nil, binDir+"/etcd --version")
	if err != nil {
		return err
	}
	etcdVersion, err := parseEtcdVersion(out)
	if err != nil {
		return err
	}
	if c.EtcdVersion != "" && etcdVersion != c.EtcdVersion {
		return fmt.Errorf("etcd_path (%s) is etcd %s but etcd_version pins %s; build the pinned release (make etcd ETCD_VERSION=v%s) or change etcd_version", c.EtcdPath, etcdVersion, c.EtcdVersion, c.EtcdVersion)
	}
	ui.Say("etcd version " + etcdVersion)
	record, err := json.MarshalIndent(ImageRecord{
		EtcdVersion: etcdVersion, AgentSHA256: bins[0].SHA256, EtcdSHA256: bins[1].SHA256,
		EtcdctlSHA256: bins[2].SHA256, EtcdutlSHA256: bins[3].SHA256,
		Units: images.UnitNames, PluginVersion: version.PluginVersion.String(),
	}, "", "  ")
	if err != nil {
		return err
	}
	recordScript := fmt.Sprintf("#!/bin/sh\nset -eu\ninstall -D -m 0644 -o root -g root %s %s\n",
		shellQuote(path.Join(c.StagingDir, "image.json")), shellQuote(ImageRecordPath))
	if err := comm.Upload(path.Join(c.StagingDir, "image.json"), bytes.NewReader(append(record, '\n')), nil); err != nil {
		return fmt.Errorf("upload image.json: %w", err)
	}
	if err := comm.Upload(path.Join(c.StagingDir, "record.sh"), strings.NewReader(recordScript), nil); err != nil {
		return fmt.Errorf("upload record.sh: %w", err)
	}
	if _, err := p.runScript(ctx, comm, ui, "record.sh"); err != nil {
		return err
	}

	ui.Say("etcdboot: hardening the image for cloning")
	if _, err := p.runScript(ctx, comm, ui, "harden.sh"); err != nil {
		return err
	}
	out, err = p.runScript(ctx, comm, nil, "verify.sh")
	if err != nil {
		return err
	}
	if left := remains(out); len(left) > 0 {
		return fmt.Errorf("the image is not safe to clone: after hardening these remain:\n  %s\nsomething recreated them after harden.sh ran or they could not be removed; remove them in a provisioner that runs before etcdboot",
			strings.Join(left, "\n  "))
	}
	ui.Say("verified: no machine-id, SSH host keys, etcd data, node payload or keys left")
	if _, err := p.run(ctx, comm, nil, "rm -rf "+c.StagingDir); err != nil {
		return err
	}
	return nil
}

// runScript runs a staged script through execute_command.
func (p *Provisioner) runScript(ctx context.Context, comm packersdk.Communicator, ui packersdk.Ui, name string) (string, error) {
	c := &p.config
	c.ctx.Data = struct{ Path string }{Path: path.Join(c.StagingDir, name)}
	command, err := interpolate.Render(c.ExecuteCommand, &c.ctx)
	if err != nil {
		return "", fmt.Errorf("execute_command: %w", err)
	}
	return p.run(ctx, comm, ui, command)
}

// run runs command on the target and returns its stdout; a non-zero exit is
// an error carrying the output. With a ui, output is shown as it comes.
func (p *Provisioner) run(ctx context.Context, comm packersdk.Communicator, ui packersdk.Ui, command string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := &packersdk.RemoteCmd{Command: command, Stdout: &stdout, Stderr: &stderr}
	if ui != nil {
		// Both streams are progress (systemctl reports symlinks on stderr);
		// a failure's error carries them in full.
		cmd.Stdout = io.MultiWriter(&stdout, &uiWriter{ui: ui})
		cmd.Stderr = io.MultiWriter(&stderr, &uiWriter{ui: ui})
	}
	if err := comm.Start(ctx, cmd); err != nil {
		return "", fmt.Errorf("start %q: %w", command, err)
	}
	if status := cmd.Wait(); status != 0 {
		return stdout.String(), fmt.Errorf("%q exited with status %d:\n%s%s", command, status, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// uiWriter passes whole lines of command output to the Packer UI.
type uiWriter struct {
	ui  packersdk.Ui
	buf []byte
}

func (w *uiWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		w.ui.Say(line)
	}
}

var etcdVersionLine = regexp.MustCompile(`(?m)^etcd Version:\s*(\S+)\s*$`)

// parseEtcdVersion reads the version from `etcd --version` output.
func parseEtcdVersion(out string) (string, error) {
	m := etcdVersionLine.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("`etcd --version` printed no \"etcd Version:\" line; is etcd_path an etcd server binary? it printed:\n%s", out)
	}
	return m[1], nil
}

// buildAgent builds etcdboot-agent from an etcdboot source tree into a
// temporary directory.
// agentBuildArgs are `go build`'s arguments for the agent at out: a
// release build, as make build does it (release.ReleaseTags, stripped).
func agentBuildArgs(out string) []string {
	return []string{"build", "-trimpath", "-tags", release.ReleaseTags, "-ldflags", release.ReleaseLDFlags, "-o", out, "./cmd/etcdboot-agent"}
}

func buildAgent(ctx context.Context, ui packersdk.Ui, source string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "etcdboot-agent-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	out := filepath.Join(dir, "etcdboot-agent")
	ui.Say("etcdboot: building etcdboot-agent from " + source)
	cmd := exec.CommandContext(ctx, "go", agentBuildArgs(out)...)
	cmd.Dir = source
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build etcdboot-agent in %s: %w\n%s", source, err, b)
	}
	return out, cleanup, nil
}
