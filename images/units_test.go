package images

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUnitsPassSystemdAnalyzeVerify runs the real systemd-analyze over the
// units, with stand-in executables at the paths they name.
func TestUnitsPassSystemdAnalyzeVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	root := t.TempDir()
	unitDir := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(unitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	all := append(append([]string{}, UnitNames...), DormantUnitNames()...)
	for _, name := range all {
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
	// The timer as a node with a backup section has it: with the drop-in.
	dropIn, err := BackupTimerDropIn(90 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(BackupTimerDropInPath)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, BackupTimerDropInPath), dropIn, 0o644); err != nil {
		t.Fatal(err)
	}
	// And the maintenance timer as a node with a maintenance section has it.
	if dropIn, err = MaintenanceTimerDropIn(10 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(MaintenanceTimerDropInPath)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, MaintenanceTimerDropInPath), dropIn, 0o644); err != nil {
		t.Fatal(err)
	}
	// systemd-analyze checks that ExecStart binaries exist under --root.
	if err := os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{"usr/local/bin/etcd", "usr/local/bin/etcdboot-agent", "bin/sh"} {
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
		for _, name := range all {
			if strings.Contains(line, name) {
				ours = append(ours, line)
			}
		}
	}
	if len(ours) > 0 {
		t.Fatalf("systemd-analyze verify (%v):\n%s", err, strings.Join(ours, "\n"))
	}
}

// systemdAnalyze returns the path of systemd-analyze; it skips the test when
// the tool is missing, unless the e2e tier is required (CI).
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			t.Fatal("systemd-analyze missing: run make deps")
		}
		t.Skip("systemd-analyze missing: run make deps")
	}
	return analyze
}

// TestBackupTimerDropInSpansParse renders the drop-in for several intervals
// and has systemd-analyze read every span it writes.
func TestBackupTimerDropInSpansParse(t *testing.T) {
	analyze := systemdAnalyze(t)
	tests := []struct {
		interval        time.Duration
		boot, interval2 string
	}{
		{time.Hour, "15min", "1h"},
		{24 * time.Hour, "15min", "24h"},
		{90 * time.Second, "90s", "90s"},
		{10 * time.Minute, "10min", "10min"},
	}
	for _, tt := range tests {
		data, err := BackupTimerDropIn(tt.interval)
		if err != nil {
			t.Fatal(err)
		}
		want := "[Timer]\nOnBootSec=\nOnBootSec=" + tt.boot + "\nOnUnitActiveSec=\nOnUnitActiveSec=" + tt.interval2 + "\n"
		if !strings.HasSuffix(string(data), want) {
			t.Errorf("%v: drop-in\n%s\nwant it to end with\n%s", tt.interval, data, want)
		}
		out, err := exec.Command(analyze, "timespan", tt.interval2).CombinedOutput()
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("μs: %d", tt.interval.Microseconds())) {
			t.Errorf("systemd-analyze timespan %s: %v\n%s", tt.interval2, err, out)
		}
	}
	for _, bad := range []time.Duration{0, 1500 * time.Millisecond, -time.Hour} {
		if _, err := BackupTimerDropIn(bad); err == nil {
			t.Errorf("BackupTimerDropIn(%v) accepted", bad)
		}
	}
}

func TestBackupUnitsRunTheAgentOnATimer(t *testing.T) {
	svc, _ := Units.ReadFile("systemd/" + BackupService)
	for _, want := range []string{"Type=oneshot", "ExecStart=/usr/local/bin/etcdboot-agent backup", "After=network-online.target etcd.service"} {
		if !strings.Contains(string(svc), want) {
			t.Errorf("%s lacks %s", BackupService, want)
		}
	}
	if strings.Contains(string(svc), "[Install]") {
		t.Errorf("%s must be started by its timer only, not installed into a target", BackupService)
	}
	timer, _ := Units.ReadFile("systemd/" + BackupTimer)
	for _, want := range []string{"OnUnitActiveSec=", "OnBootSec=", "WantedBy=timers.target"} {
		if !strings.Contains(string(timer), want) {
			t.Errorf("%s lacks %s", BackupTimer, want)
		}
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
