package spec

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestMaintenanceValidationMessages asserts the exact file:line:col message
// of every maintenance check.
func TestMaintenanceValidationMessages(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"interval too short", "maintenance:\n  interval: 30s\n",
			[]string{`c.yaml:11:13: maintenance.interval: 30s is shorter than 1m0s; every round asks each member for its status, use e.g. 1h`}},
		{"interval not whole seconds", "maintenance:\n  interval: 90500ms\n",
			[]string{`c.yaml:11:13: maintenance.interval: 1m30.5s is not a whole number of seconds; systemd timers count in seconds, write e.g. 90s`}},
		{"ratio above one", "maintenance:\n  fragmentation:\n    freeRatio: 1.5\n",
			[]string{`c.yaml:12:16: maintenance.fragmentation.freeRatio: 1.5 is not a share between 0 and 1; write e.g. 0.5 (defragment a member once half its database file is free)`}},
		{"ratio percent above one", "maintenance:\n  fragmentation: {freeRatio: 150%}\n",
			[]string{`c.yaml:11:30: maintenance.fragmentation.freeRatio: 1.5 is not a share between 0 and 1; write e.g. 0.5 (defragment a member once half its database file is free)`}},
		{"ratio not a number", "maintenance:\n  fragmentation: {freeRatio: half}\n",
			[]string{`c.yaml:11:30: maintenance.fragmentation.freeRatio: "half" is not a share; write e.g. 0.5 or 50%`}},
		{"min free beyond the quota", "etcd: {quotaBackendBytes: 1GiB}\nmaintenance:\n  fragmentation: {minFreeBytes: 2GiB}\n",
			[]string{`c.yaml:12:33: maintenance.fragmentation.minFreeBytes: 2147483648 bytes is not less than the backend quota (1073741824 bytes, etcd.quotaBackendBytes): no member ever has that much free; lower it, e.g. to 64MiB`}},
		{"min free beyond etcd's default quota", "maintenance:\n  fragmentation: {minFreeBytes: 3GiB}\n",
			[]string{`c.yaml:11:33: maintenance.fragmentation.minFreeBytes: 3221225472 bytes is not less than the backend quota (2147483648 bytes, etcd.quotaBackendBytes): no member ever has that much free; lower it, e.g. to 64MiB`}},
		{"window start not a time", "maintenance:\n  window: {start: \"25:00\", duration: 4h}\n",
			[]string{`c.yaml:11:19: maintenance.window.start: "25:00" is not a time of day; write HH:MM in UTC, e.g. "02:00"`}},
		{"window without start", "maintenance:\n  window: {duration: 4h}\n",
			[]string{`c.yaml:11:3: maintenance.window.start: is missing; write the time the window opens as HH:MM in UTC, e.g. "02:00"`}},
		{"window without duration", "maintenance:\n  window: {start: \"02:00\"}\n",
			[]string{`c.yaml:11:3: maintenance.window.duration: is missing; write how long the window stays open, e.g. 4h`}},
		{"window shorter than the interval", "maintenance:\n  interval: 2h\n  window:\n    start: \"02:00\"\n    duration: 30m\n",
			[]string{`c.yaml:14:15: maintenance.window.duration: 30m0s is shorter than maintenance.interval (2h0m0s): every round could fall outside it; make the window at least 2h0m0s long or shorten the interval`}},
		{"window longer than a day", "maintenance:\n  window: {start: \"02:00\", duration: 2d}\n",
			[]string{`c.yaml:11:38: maintenance.window.duration: 48h is more than a day; leave window out to defragment at any time`}},
		{"retention negative", "maintenance:\n  spaceAlarm: {retention: -5}\n",
			[]string{`c.yaml:11:27: maintenance.spaceAlarm.retention: -5 is negative; give the revisions the compaction that heals a NOSPACE alarm keeps, e.g. 1000`}},
		{"margin too large", "maintenance:\n  spaceAlarm: {margin: 60%}\n",
			[]string{`c.yaml:11:24: maintenance.spaceAlarm.margin: 0.6 is not a share between 0 and 0.5; write e.g. 0.1 (disarm NOSPACE once every database is at most 90% of the quota)`}},
		{"unknown key", "maintenance:\n  threshold: 0.5\n",
			[]string{`c.yaml:11:3: maintenance.threshold: unknown key; valid keys here: fragmentation, interval, spaceAlarm, window`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validHeader + threeMembers + tt.in
			_, rep, err := ParseCluster("c.yaml", []byte(in))
			if err == nil {
				t.Fatalf("accepted:\n%s", in)
			}
			var got []string
			for _, p := range rep.Problems {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestMaintenanceDefaultsAndPayload(t *testing.T) {
	c, rep, err := ParseCluster("c.yaml", []byte(validHeader+threeMembers+"maintenance: {}\n"))
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("ParseCluster: %v\n%s", err, rep)
	}
	m := c.Maintenance
	if m.Interval.Std() != time.Hour || m.Fragmentation.FreeRatio != 0.5 || m.Fragmentation.MinFreeBytes != 64<<20 ||
		m.Window != nil || m.SpaceAlarm.Retention != 1000 || m.SpaceAlarm.Margin != 0.1 {
		t.Errorf("defaults: %+v", m)
	}
	c, _, err = ParseCluster("c.yaml", []byte(validHeader+threeMembers+
		"maintenance:\n  interval: 30m\n  fragmentation: {freeRatio: 25%, minFreeBytes: 1MiB}\n  window: {start: \"23:30\", duration: 3h}\n  spaceAlarm: {retention: 50, margin: 0.2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m = c.Maintenance
	if m.Fragmentation.FreeRatio != 0.25 || m.Fragmentation.MinFreeBytes != 1<<20 || m.Window.Start != "23:30" || m.SpaceAlarm.Retention != 50 {
		t.Errorf("parsed: %+v %+v", m, m.Window)
	}
	// The section as the generator writes it into a payload reads back the same.
	data, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	payload := `apiVersion: etcdboot/v1
cluster: demo
token: demo-1
node: {name: etcd1, ips: [10.0.0.1]}
members: [{name: etcd1, ips: [10.0.0.1]}]
etcd: {version: 3.6.16, dataDir: /var/lib/etcd, configFormat: yaml, clientPort: 2379, peerPort: 2380, metricsPort: 2381}
discovery: {mode: static}
tls: {caFile: /p/ca.crt, serverCertFile: /p/s.crt, serverKeyFile: /p/s.key, peerCertFile: /p/p.crt, peerKeyFile: /p/p.key}
maintenance:
  ` + strings.ReplaceAll(strings.TrimSpace(string(data)), "\n", "\n  ") + "\n"
	p, err := ParseNodePayload("node.yaml", []byte(payload))
	if err != nil {
		t.Fatalf("%v\n%s", err, payload)
	}
	if got := p.Maintenance; got.Interval != m.Interval || got.Fragmentation != m.Fragmentation || *got.Window != *m.Window || got.SpaceAlarm != m.SpaceAlarm {
		t.Errorf("payload's section %+v, spec's %+v", got, m)
	}
	_, err = ParseNodePayload("node.yaml", []byte(strings.Replace(payload, "freeRatio: 0.25", "freeRatio: 2", 1)))
	if err == nil || !strings.Contains(err.Error(), "node.yaml:12:18: maintenance.fragmentation.freeRatio: 2 is not a share between 0 and 1") {
		t.Errorf("a bad payload ratio: %v", err)
	}
}

func TestMaintenanceWindowContains(t *testing.T) {
	at := func(hhmm string) time.Time {
		d, err := ParseTimeOfDay(hhmm)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).Add(d)
	}
	tests := []struct {
		window *MaintenanceWindow
		at     time.Time
		want   bool
	}{
		{nil, at("13:37"), true},
		{&MaintenanceWindow{Start: "02:00", Duration: Duration(4 * time.Hour)}, at("02:00"), true},
		{&MaintenanceWindow{Start: "02:00", Duration: Duration(4 * time.Hour)}, at("05:59"), true},
		{&MaintenanceWindow{Start: "02:00", Duration: Duration(4 * time.Hour)}, at("06:00"), false},
		{&MaintenanceWindow{Start: "02:00", Duration: Duration(4 * time.Hour)}, at("01:59"), false},
		{&MaintenanceWindow{Start: "23:00", Duration: Duration(3 * time.Hour)}, at("00:30"), true},
		{&MaintenanceWindow{Start: "23:00", Duration: Duration(3 * time.Hour)}, at("23:00"), true},
		{&MaintenanceWindow{Start: "23:00", Duration: Duration(3 * time.Hour)}, at("02:00"), false},
		{&MaintenanceWindow{Start: "23:00", Duration: Duration(3 * time.Hour)}, at("22:59"), false},
		{&MaintenanceWindow{Start: "00:00", Duration: Duration(24 * time.Hour)}, at("17:00"), true},
		// A time in another zone is compared in UTC: 04:00+02:00 is 02:00Z.
		{&MaintenanceWindow{Start: "02:00", Duration: Duration(time.Hour)}, at("02:00").In(time.FixedZone("CEST", 2*3600)), true},
		{&MaintenanceWindow{Start: "2:00", Duration: Duration(time.Hour)}, at("02:00"), false},
	}
	for _, tt := range tests {
		if got := tt.window.InWindow(tt.at); got != tt.want {
			t.Errorf("%+v.InWindow(%s) = %v, want %v", tt.window, tt.at.Format(time.RFC3339), got, tt.want)
		}
	}
}
