package rootfs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/chroot"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/moby/sys/mountinfo"
)

// halt records err and stops the build.
func halt(state multistep.StateBag, err error) multistep.StepAction {
	state.Put("error", err)
	state.Get("ui").(packersdk.Ui).Error(err.Error())
	return multistep.ActionHalt
}

// stepOutputDir creates the output directory, replacing an old one only
// with -force, and removes it again if the build fails.
type stepOutputDir struct {
	created bool
}

func (s *stepOutputDir) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	c := state.Get("config").(*Config)
	dir := state.Get("output_dir").(string)
	ui := state.Get("ui").(packersdk.Ui)
	if _, err := os.Stat(dir); err == nil {
		if !c.PackerForce {
			return halt(state, fmt.Errorf("output_dir %s exists; remove it or run packer build -force", dir))
		}
		ui.Say("Removing the old output directory (-force): " + dir)
		if err := removeOutput(dir); err != nil {
			return halt(state, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return halt(state, fmt.Errorf("create output_dir: %w", err))
	}
	s.created = true
	return multistep.ActionContinue
}

func (s *stepOutputDir) Cleanup(state multistep.StateBag) {
	if !s.created {
		return
	}
	_, cancelled := state.GetOk(multistep.StateCancelled)
	_, halted := state.GetOk(multistep.StateHalted)
	if !cancelled && !halted {
		return
	}
	ui := state.Get("ui").(packersdk.Ui)
	dir := state.Get("output_dir").(string)
	if c := state.Get("config").(*Config); c.PackerOnError == "abort" {
		ui.Say("Keeping the output directory for inspection (-on-error=abort): " + dir)
		return
	}
	ui.Say("Removing the output directory of the failed build: " + dir)
	if err := removeOutput(dir); err != nil {
		ui.Error(err.Error())
	}
}

// removeOutput deletes an output directory, but never across a mount point:
// a /dev bind mount left behind must not take the host's /dev with it.
func removeOutput(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("not removing %s: still mounted under it: %s; unmount them (umount -R) and remove it by hand",
			dir, strings.Join(mounts, ", "))
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists mount points at or below dir, from /proc/self/mountinfo.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	return parseMountsUnder(f, dir)
}

// parseMountsUnder picks the mount points at or below dir from a mount
// table in /proc/PID/mountinfo's format (moby's parser undoes its octal
// escapes, such as \040 for a space).
func parseMountsUnder(table io.Reader, dir string) ([]string, error) {
	infos, err := mountinfo.GetMountsFromReader(table, mountinfo.PrefixFilter(filepath.Clean(dir)))
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	var out []string
	for _, m := range infos {
		out = append(out, m.Mountpoint)
	}
	return out, nil
}

// stepBootstrap runs mmdebstrap into output_dir/rootfs.
type stepBootstrap struct{}

// mmdebstrapArgs is the mmdebstrap command line for c into rootfs.
func mmdebstrapArgs(c *Config, rootfs string) []string {
	include := append(append([]string{}, DefaultPackages...), c.Packages...)
	return []string{
		"--variant=minbase",
		"--include=" + strings.Join(include, ","),
		c.Suite, rootfs, c.Mirror,
	}
}

func (s *stepBootstrap) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	c := state.Get("config").(*Config)
	ui := state.Get("ui").(packersdk.Ui)
	rootfs := state.Get("mount_path").(string)
	args := mmdebstrapArgs(c, rootfs)
	ui.Say(fmt.Sprintf("Bootstrapping Debian %s from %s with mmdebstrap", c.Suite, c.Mirror))
	if err := runStreaming(ctx, ui, mmdebstrapStatus, "mmdebstrap", args...); err != nil {
		return halt(state, fmt.Errorf("mmdebstrap %s: %w", strings.Join(args, " "), err))
	}
	return multistep.ActionContinue
}

func (s *stepBootstrap) Cleanup(multistep.StateBag) {}

// mmdebstrapStatus picks mmdebstrap's own status lines ("I: ...", "W: ...",
// "E: ...") from apt's and dpkg's chatter.
func mmdebstrapStatus(line string) bool {
	return strings.HasPrefix(line, "I: ") || strings.HasPrefix(line, "W: ") || strings.HasPrefix(line, "E: ")
}

// everyLine shows all output.
func everyLine(string) bool { return true }

// runStreaming runs a host command, passing the output lines show picks to
// the UI and the rest to Packer's log; a failure carries the last lines.
func runStreaming(ctx context.Context, ui packersdk.Ui, show func(string) bool, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var tail []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if show(line) {
				ui.Say(line)
			} else {
				log.Printf("%s: %s", name, line)
			}
			if tail = append(tail, line); len(tail) > 20 {
				tail = tail[1:]
			}
		}
		io.Copy(io.Discard, pr)
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		return fmt.Errorf("%w; last output:\n%s", err, strings.Join(tail, "\n"))
	}
	return nil
}

// policyRcD keeps package installs in provisioners from starting services
// inside the chroot (invoke-rc.d honours it; exit 101 means "not allowed").
const policyRcD = "/usr/sbin/policy-rc.d"

// stepPolicyRcD installs policyRcD for the provisioners and removes it again.
type stepPolicyRcD struct {
	path string
}

func (s *stepPolicyRcD) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	p := filepath.Join(state.Get("mount_path").(string), policyRcD)
	if _, err := os.Lstat(p); err == nil {
		// The image has its own; leave it alone.
		state.Put("policy_rcd_cleanup", s)
		return multistep.ActionContinue
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n# Installed by etcdboot-rootfs while provisioning.\nexit 101\n"), 0o755); err != nil {
		return halt(state, fmt.Errorf("install %s: %w", policyRcD, err))
	}
	s.path = p
	state.Put("policy_rcd_cleanup", s)
	return multistep.ActionContinue
}

func (s *stepPolicyRcD) Cleanup(state multistep.StateBag) {
	if err := s.CleanupFunc(state); err != nil {
		state.Get("ui").(packersdk.Ui).Error(err.Error())
	}
}

// CleanupFunc removes the policy file; safe to call twice.
func (s *stepPolicyRcD) CleanupFunc(multistep.StateBag) error {
	if s.path == "" {
		return nil
	}
	if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove %s: %w", policyRcD, err)
	}
	s.path = ""
	return nil
}

// stepEarlyCleanup undoes the provisioning setup (mounts, copied files,
// policy-rc.d) before export, so none of it ends up in the image. The SDK's
// StepEarlyCleanup expects the device steps of a cloud chroot builder.
type stepEarlyCleanup struct{}

func (s *stepEarlyCleanup) Run(_ context.Context, state multistep.StateBag) multistep.StepAction {
	for _, key := range []string{"policy_rcd_cleanup", "copy_files_cleanup", "mount_extra_cleanup"} {
		c, ok := state.GetOk(key)
		if !ok {
			continue
		}
		if err := c.(chroot.Cleanup).CleanupFunc(state); err != nil {
			return halt(state, fmt.Errorf("undo the chroot setup (%s): %w", key, err))
		}
	}
	rootfs := state.Get("mount_path").(string)
	if mounts, err := mountsUnder(rootfs); err != nil {
		return halt(state, err)
	} else if len(mounts) > 0 {
		return halt(state, fmt.Errorf("still mounted in the root file system after provisioning: %s; a provisioner mounted something and did not unmount it", strings.Join(mounts, ", ")))
	}
	return multistep.ActionContinue
}

func (s *stepEarlyCleanup) Cleanup(multistep.StateBag) {}
