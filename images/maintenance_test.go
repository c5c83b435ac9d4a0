package images

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMaintenanceUnitsRunTheAgentOnATimer(t *testing.T) {
	svc, err := Units.ReadFile("systemd/" + MaintenanceService)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=oneshot", "ExecStart=/usr/local/bin/etcdboot-agent defrag --log-level info", "After=network-online.target etcd.service"} {
		if !strings.Contains(string(svc), want) {
			t.Errorf("%s lacks %s", MaintenanceService, want)
		}
	}
	if strings.Contains(string(svc), "--now") {
		t.Errorf("%s runs rounds by hand (--now ignores the window)", MaintenanceService)
	}
	if strings.Contains(string(svc), "[Install]") {
		t.Errorf("%s must be started by its timer only, not installed into a target", MaintenanceService)
	}
	timer, err := Units.ReadFile("systemd/" + MaintenanceTimer)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OnUnitActiveSec=", "OnBootSec=", "WantedBy=timers.target"} {
		if !strings.Contains(string(timer), want) {
			t.Errorf("%s lacks %s", MaintenanceTimer, want)
		}
	}
	dormant := DormantUnitNames()
	for _, name := range append(append([]string{}, BackupUnitNames...), MaintenanceUnitNames...) {
		if !strings.Contains(strings.Join(dormant, " "), name) {
			t.Errorf("DormantUnitNames() %v lacks %s", dormant, name)
		}
	}
}

// TestMaintenanceTimerDropInSpansParse has systemd-analyze read every span
// the drop-in writes.
func TestMaintenanceTimerDropInSpansParse(t *testing.T) {
	analyze := systemdAnalyze(t)
	for _, tt := range []struct {
		interval        time.Duration
		boot, interval2 string
	}{
		{time.Hour, "15min", "1h"},
		{6 * time.Hour, "15min", "6h"},
		{90 * time.Second, "90s", "90s"},
	} {
		data, err := MaintenanceTimerDropIn(tt.interval)
		if err != nil {
			t.Fatal(err)
		}
		want := "[Timer]\nOnBootSec=\nOnBootSec=" + tt.boot + "\nOnUnitActiveSec=\nOnUnitActiveSec=" + tt.interval2 + "\n"
		if !strings.HasPrefix(string(data), "# Written by etcdboot from the node payload's maintenance.interval.\n") || !strings.HasSuffix(string(data), want) {
			t.Errorf("%v: drop-in\n%s\nwant it to end with\n%s", tt.interval, data, want)
		}
		out, err := exec.Command(analyze, "timespan", tt.interval2).CombinedOutput()
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("μs: %d", tt.interval.Microseconds())) {
			t.Errorf("systemd-analyze timespan %s: %v\n%s", tt.interval2, err, out)
		}
	}
	for _, bad := range []time.Duration{0, 1500 * time.Millisecond, -time.Hour} {
		if _, err := MaintenanceTimerDropIn(bad); err == nil {
			t.Errorf("MaintenanceTimerDropIn(%v) accepted", bad)
		}
	}
}
