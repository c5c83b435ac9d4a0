package ignition

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/ignition/v2/config/v3_4/types"

	"github.com/etcdboot/etcdboot/images"
	"github.com/etcdboot/etcdboot/spec"
)

// maintenanceBundle is the golden bundle with backups every 30 minutes and
// maintenance rounds every 10 minutes.
func maintenanceBundle() Bundle {
	b := backupBundle()
	m := &spec.Maintenance{Interval: spec.Duration(10 * time.Minute)}
	m.ApplyDefaults()
	b.Payload.Maintenance = m
	return b
}

const wantMaintenanceDropIn = "[Timer]\nOnBootSec=\nOnBootSec=10min\nOnUnitActiveSec=\nOnUnitActiveSec=10min\n"

func TestIgnitionEnablesTheMaintenanceTimerWithItsInterval(t *testing.T) {
	for _, variant := range variants {
		t.Run(variant, func(t *testing.T) {
			ign, err := RenderIgnition(maintenanceBundle(), variant)
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := decodeIgnition(t, ign)
			for _, timer := range []struct{ name, dropIn string }{{images.MaintenanceTimer, wantMaintenanceDropIn}, {images.BackupTimer, wantDropIn}} {
				i := slices.IndexFunc(cfg.Systemd.Units, func(u types.Unit) bool { return u.Name == timer.name })
				if i < 0 {
					t.Fatalf("systemd.units = %+v, want %s", cfg.Systemd.Units, timer.name)
				}
				u := cfg.Systemd.Units[i]
				if !isTrue(u.Enabled) || u.Contents != nil || len(u.Dropins) != 1 {
					t.Fatalf("unit %+v: want it enabled, contents from the image, one drop-in", u)
				}
				if d := u.Dropins[0]; d.Name != "interval.conf" || !strings.HasSuffix(deref(d.Contents), timer.dropIn) {
					t.Errorf("%s drop-in %s:\n%s\nwant it to end with\n%s", timer.name, d.Name, deref(d.Contents), timer.dropIn)
				}
			}
		})
	}
	ign, err := RenderIgnition(backupBundle(), VariantFCOS)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ign), images.MaintenanceTimer) {
		t.Errorf("a payload without maintenance enables the maintenance timer:\n%s", ign)
	}
}

func TestCloudInitEnablesTheMaintenanceTimerWithItsInterval(t *testing.T) {
	ud, err := RenderCloudInit(maintenanceBundle())
	if err != nil {
		t.Fatal(err)
	}
	check := func(decoder string, v cloudView) {
		t.Helper()
		want := []string{"systemctl", "enable", "--now", "--no-block", images.MaintenanceTimer}
		if !slices.ContainsFunc(v.Runcmd, func(c []string) bool { return slices.Equal(c, want) }) {
			t.Errorf("%s: runcmd = %q, want %q", decoder, v.Runcmd, want)
		}
		i := -1
		for j, f := range v.Files {
			if f.Path == images.MaintenanceTimerDropInPath {
				i = j
			}
		}
		if i < 0 {
			t.Fatalf("%s: no %s written", decoder, images.MaintenanceTimerDropInPath)
		}
		if f := v.Files[i]; !strings.HasSuffix(string(f.Content), wantMaintenanceDropIn) || f.Mode != 0o644 || f.User != "root" || !f.Defer {
			t.Errorf("%s: drop-in %+v", decoder, f)
		}
		if last := v.Files[len(v.Files)-1].Path; last != spec.DefaultPayloadPath {
			t.Errorf("%s: %s is written last, want the payload", decoder, last)
		}
	}
	check("go", decodeInGo(t, ud))
	t.Run("cloud-init", func(t *testing.T) {
		requireCloudInit(t)
		if err := checkWithCloudInit(t, ud); err != nil {
			t.Errorf("%v\nuser-data:\n%s", err, ud)
		}
		check("cloud-init", decodeWithCloudInit(t, ud))
	})
}

func TestWriteTreePlacesTheMaintenanceDropIn(t *testing.T) {
	root := t.TempDir()
	if err := maintenanceBundle().WriteTree(root); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, images.MaintenanceTimerDropInPath))
	if err != nil || !strings.HasSuffix(string(data), wantMaintenanceDropIn) {
		t.Fatalf("drop-in: %v\n%s", err, data)
	}
}

func TestMaintenanceIntervalTheTimerCannotTakeIsAnError(t *testing.T) {
	b := maintenanceBundle()
	b.Payload.Maintenance.Interval = spec.Duration(1500 * time.Millisecond)
	if _, err := RenderCloudInit(b); err == nil || !strings.Contains(err.Error(), "maintenance.interval") {
		t.Fatalf("want a maintenance.interval error, got %v", err)
	}
}
