package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnitsPassSystemdAnalyzeVerify runs the real systemd-analyze over the
// units, with stand-in executables at the paths they name.
func TestUnitsPassSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			t.Fatal("systemd-analyze missing: run make deps")
		}
		t.Skip("systemd-analyze missing: run make deps")
	}
	root := t.TempDir()
	unitDir := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range UnitNames {
		data, err := Units.ReadFile("systemd/" + name)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(unitDir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	// systemd-analyze checks that ExecStart binaries exist under --root.
	if err := os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{"usr/local/bin/etcd", "usr/local/bin/etcdboot-agent"} {
		p := filepath.Join(root, bin)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The units name systemd's own targets: give the root the host's.
	if out, err := exec.Command("cp", "-a", "/usr/lib/systemd", filepath.Join(root, "usr/lib/")).CombinedOutput(); err != nil {
		t.Fatalf("copy systemd units: %v: %s", err, out)
	}
	cmd := exec.Command(analyze, append([]string{"verify", "--root", root, "--man=no"}, paths...)...)
	out, err := cmd.CombinedOutput()
	// Only complaints about our own units count; the host's units are not ours.
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		for _, name := range UnitNames {
			if strings.Contains(line, name) {
				ours = append(ours, line)
			}
		}
	}
	if len(ours) > 0 {
		t.Fatalf("systemd-analyze verify (%v):\n%s", err, strings.Join(ours, "\n"))
	}
}

func TestUnitsCarryTheManualProceduresSettings(t *testing.T) {
	etcd, _ := Units.ReadFile("systemd/etcd.service")
	for _, want := range []string{"Type=notify", "EnvironmentFile=/etc/etcd/etcd.conf", "Restart=on-failure", "LimitNOFILE=65536", "User=etcd"} {
		if !strings.Contains(string(etcd), want) {
			t.Errorf("etcd.service lacks %s", want)
		}
	}
	agent, _ := Units.ReadFile("systemd/etcdboot-agent.service")
	for _, want := range []string{"Type=oneshot", "Before=etcd.service", "RemainAfterExit=yes"} {
		if !strings.Contains(string(agent), want) {
			t.Errorf("etcdboot-agent.service lacks %s", want)
		}
	}
}
