package etcdboot

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

func prepared(t *testing.T, extra map[string]interface{}) *Provisioner {
	t.Helper()
	bins := fakeBins(t, "etcd", "etcdctl", "etcdutl", "etcdboot-agent")
	raw := map[string]interface{}{
		"agent_path": filepath.Join(bins, "etcdboot-agent"),
		"etcd_path":  filepath.Join(bins, "etcd"),
	}
	for k, v := range extra {
		raw[k] = v
	}
	p := &Provisioner{}
	if err := p.Prepare(raw); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDigestMismatchFailsBeforeAnyUpload(t *testing.T) {
	p := prepared(t, map[string]interface{}{"etcd_sha256": strings.Repeat("0", 64)})
	comm := &packersdk.MockCommunicator{}
	err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil)
	if err == nil || !strings.Contains(err.Error(), "etcd_sha256 says "+strings.Repeat("0", 64)) {
		t.Fatalf("Provision = %v, want a digest mismatch naming etcd_sha256", err)
	}
	if comm.UploadCalled || comm.StartCalled {
		t.Error("the communicator was used although a digest did not match")
	}
}

func TestPinnedEtcdVersionMismatchFails(t *testing.T) {
	p := prepared(t, map[string]interface{}{"etcd_version": "3.5.17"})
	comm := &packersdk.MockCommunicator{StartStdout: "etcd Version: 3.6.16\n"}
	err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil)
	if err == nil || !strings.Contains(err.Error(), "is etcd 3.6.16 but etcd_version pins 3.5.17") {
		t.Fatalf("Provision = %v, want a version mismatch", err)
	}
}

// TestLeftoversFailTheBuild: when verify.sh reports anything, the build
// fails and the message lists it.
func TestLeftoversFailTheBuild(t *testing.T) {
	p := prepared(t, nil)
	comm := &packersdk.MockCommunicator{StartStdout: "etcd Version: 3.6.16\nremains: /etc/machine-id\nremains: /var/lib/etcd/member\n"}
	err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil)
	if err == nil {
		t.Fatal("Provision succeeded although verify reported leftovers")
	}
	for _, want := range []string{"not safe to clone", "/etc/machine-id", "/var/lib/etcd/member"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// recordingComm is the SDK's mock communicator, remembering every command
// and upload rather than the last.
type recordingComm struct {
	packersdk.MockCommunicator
	commands []string
	uploads  []string
}

func (c *recordingComm) Start(ctx context.Context, rc *packersdk.RemoteCmd) error {
	c.commands = append(c.commands, rc.Command)
	return c.MockCommunicator.Start(ctx, rc)
}

func (c *recordingComm) Upload(dst string, r io.Reader, fi *os.FileInfo) error {
	c.uploads = append(c.uploads, dst)
	return c.MockCommunicator.Upload(dst, r, fi)
}

func TestProvisionInstallsThenHardensThenVerifies(t *testing.T) {
	p := prepared(t, map[string]interface{}{"execute_command": "sudo -n /bin/sh {{.Path}}"})
	comm := &recordingComm{MockCommunicator: packersdk.MockCommunicator{StartStdout: "etcd Version: 3.6.16\n"}}
	if err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil); err != nil {
		t.Fatal(err)
	}
	s := DefaultStagingDir
	want := []string{
		"mkdir -p " + s + "/units",
		"sudo -n /bin/sh " + s + "/install.sh",
		"/usr/local/bin/etcd --version",
		"sudo -n /bin/sh " + s + "/record.sh",
		"sudo -n /bin/sh " + s + "/harden.sh",
		"sudo -n /bin/sh " + s + "/verify.sh",
		"rm -rf " + s,
	}
	if !slices.Equal(comm.commands, want) {
		t.Errorf("commands:\n  %s\nwant:\n  %s", strings.Join(comm.commands, "\n  "), strings.Join(want, "\n  "))
	}
	for _, f := range []string{"etcdboot-agent", "etcd", "etcdctl", "etcdutl", "units/etcd.service", "units/etcdboot-agent.service", "install.sh", "harden.sh", "verify.sh", "image.json"} {
		if !slices.Contains(comm.uploads, s+"/"+f) {
			t.Errorf("%s was not uploaded; uploads: %v", f, comm.uploads)
		}
	}
}
