package generate

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/images"
	"github.com/etcdboot/etcdboot/spec"
)

func TestEveryPayloadCarriesTheMaintenanceSchedule(t *testing.T) {
	dir := t.TempDir()
	specPath := filepath.Join(dir, "cluster.yaml")
	yaml := `apiVersion: etcdboot/v1
name: mt
members:
  - {name: etcd1, ips: [10.0.0.1]}
  - {name: etcd2, ips: [10.0.0.2]}
  - {name: etcd3, ips: [10.0.0.3]}
maintenance:
  interval: 6h
  fragmentation: {freeRatio: 40%}
  window: {start: "01:00", duration: 6h}
`
	if err := os.WriteFile(specPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Run(Options{SpecPath: specPath, OutDir: filepath.Join(dir, "out")})
	if err != nil {
		t.Fatal(err)
	}
	want := spec.Maintenance{Interval: spec.Duration(6 * time.Hour),
		Fragmentation: spec.Fragmentation{FreeRatio: 0.4, MinFreeBytes: spec.DefaultMinFreeBytes},
		Window:        &spec.MaintenanceWindow{Start: "01:00", Duration: spec.Duration(6 * time.Hour)},
		SpaceAlarm:    spec.SpaceAlarm{Retention: spec.DefaultSpaceAlarmRetention, Margin: spec.DefaultSpaceAlarmMargin}}
	for _, n := range res.Nodes {
		p, err := spec.LoadNodePayload(filepath.Join(n.Dir, "node.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Maintenance == nil || !reflect.DeepEqual(*p.Maintenance, want) {
			t.Errorf("%s: node.yaml maintenance = %+v, want %+v", n.Name, p.Maintenance, want)
		}
		ud, err := os.ReadFile(filepath.Join(n.Dir, "user-data"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ud), images.MaintenanceTimerDropInPath) || !strings.Contains(string(ud), images.MaintenanceTimer) {
			t.Errorf("%s: user-data does not set up %s", n.Name, images.MaintenanceTimer)
		}
		if strings.Contains(string(ud), images.BackupTimer) {
			t.Errorf("%s: user-data enables %s without a backup section", n.Name, images.BackupTimer)
		}
	}
}
