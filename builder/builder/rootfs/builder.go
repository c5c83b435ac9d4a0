package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/packer-plugin-sdk/chroot"
	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/multistep"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// Builder is the "etcdboot-rootfs" builder.
type Builder struct {
	config Config
	runner multistep.Runner
}

// ConfigSpec is the HCL2 schema of Config.
func (b *Builder) ConfigSpec() hcldec.ObjectSpec { return b.config.FlatMapstructure().HCL2Spec() }

// Prepare decodes and checks the configuration. RootfsPath is offered to
// provisioners as build.RootfsPath (the root file system on the host).
func (b *Builder) Prepare(raws ...interface{}) ([]string, []string, error) {
	warnings, err := b.config.Prepare(raws...)
	if err != nil {
		return nil, warnings, err
	}
	return []string{"RootfsPath"}, warnings, nil
}

// Run bootstraps, provisions in a chroot and exports.
func (b *Builder) Run(ctx context.Context, ui packersdk.Ui, hook packersdk.Hook) (packersdk.Artifact, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("etcdboot-rootfs needs root: mmdebstrap, chroot and the chroot mounts do; run packer as root (sudo -E)")
	}
	closeInheritedFDs()
	out, err := filepath.Abs(b.config.OutputDir)
	if err != nil {
		return nil, err
	}
	rootfs := filepath.Join(out, "rootfs")
	state := new(multistep.BasicStateBag)
	state.Put("config", &b.config)
	state.Put("hook", hook)
	state.Put("ui", ui)
	state.Put("output_dir", out)
	state.Put("mount_path", rootfs)
	state.Put("wrappedCommand", common.CommandWrapper(func(command string) (string, error) { return command, nil }))
	state.Put("generated_data", map[string]interface{}{"RootfsPath": rootfs})

	cleanups := &stepEarlyCleanup{}
	steps := []multistep.Step{
		&stepOutputDir{},
		&stepBootstrap{},
		&chroot.StepMountExtra{ChrootMounts: b.config.ChrootMounts},
		&chroot.StepCopyFiles{Files: b.config.CopyFiles},
		&stepPolicyRcD{},
		&chroot.StepChrootProvision{},
		cleanups,
		&stepExport{},
	}
	b.runner = commonsteps.NewRunner(steps, b.config.PackerConfig, ui)
	b.runner.Run(ctx, state)
	if err, ok := state.GetOk("error"); ok {
		return nil, err.(error)
	}
	if _, ok := state.GetOk(multistep.StateCancelled); ok {
		return nil, errors.New("build was cancelled")
	}
	if _, ok := state.GetOk(multistep.StateHalted); ok {
		return nil, errors.New("build was halted")
	}
	m, ok := state.GetOk("manifest")
	if !ok {
		return nil, fmt.Errorf("no manifest was written to %s", out)
	}
	return &Artifact{Dir: out, Manifest: m.(*Manifest), StateData: map[string]interface{}{"generated_data": state.Get("generated_data")}}, nil
}
