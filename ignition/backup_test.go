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

// backupBundle is the golden bundle with a backup section every 30 minutes.
func backupBundle() Bundle {
	b := placeholderBundle()
	b.Payload.Backup = &spec.Backup{Interval: spec.Duration(30 * time.Minute), Retention: 5, Dir: "/var/backups/etcd",
		Writer: spec.WriterLeader, UploadTimeout: spec.Duration(time.Minute), TestRestore: true}
	return b
}

const wantDropIn = "[Timer]\nOnBootSec=\nOnBootSec=15min\nOnUnitActiveSec=\nOnUnitActiveSec=30min\n"

func TestIgnitionEnablesTheBackupTimerWithItsInterval(t *testing.T) {
	for _, variant := range variants {
		t.Run(variant, func(t *testing.T) {
			ign, err := RenderIgnition(backupBundle(), variant)
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := decodeIgnition(t, ign)
			i := slices.IndexFunc(cfg.Systemd.Units, func(u types.Unit) bool { return u.Name == images.BackupTimer })
			if i < 0 {
				t.Fatalf("systemd.units = %+v, want %s", cfg.Systemd.Units, images.BackupTimer)
			}
			u := cfg.Systemd.Units[i]
			if !isTrue(u.Enabled) || u.Contents != nil || len(u.Dropins) != 1 {
				t.Fatalf("unit %+v: want it enabled, contents from the image, one drop-in", u)
			}
			if d := u.Dropins[0]; d.Name != "interval.conf" || !strings.HasSuffix(deref(d.Contents), wantDropIn) {
				t.Errorf("drop-in %s:\n%s\nwant it to end with\n%s", d.Name, deref(d.Contents), wantDropIn)
			}
		})
	}
	// Without a backup section the timer stays off.
	ign, err := RenderIgnition(placeholderBundle(), VariantFCOS)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ign), images.BackupTimer) {
		t.Errorf("a payload without backups enables the backup timer:\n%s", ign)
	}
}

func TestCloudInitEnablesTheBackupTimerWithItsInterval(t *testing.T) {
	ud, err := RenderCloudInit(backupBundle())
	if err != nil {
		t.Fatal(err)
	}
	check := func(decoder string, v cloudView) {
		t.Helper()
		want := []string{"systemctl", "enable", "--now", "--no-block", images.BackupTimer}
		if !slices.ContainsFunc(v.Runcmd, func(c []string) bool { return slices.Equal(c, want) }) {
			t.Errorf("%s: runcmd = %q, want %q", decoder, v.Runcmd, want)
		}
		i := -1
		for j, f := range v.Files {
			if f.Path == images.BackupTimerDropInPath {
				i = j
			}
		}
		if i < 0 {
			t.Fatalf("%s: no %s written", decoder, images.BackupTimerDropInPath)
		}
		if f := v.Files[i]; !strings.HasSuffix(string(f.Content), wantDropIn) || f.Mode != 0o644 || f.User != "root" || !f.Defer {
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

func TestWriteTreePlacesTheBackupDropIn(t *testing.T) {
	root := t.TempDir()
	if err := backupBundle().WriteTree(root); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, images.BackupTimerDropInPath))
	if err != nil || !strings.HasSuffix(string(data), wantDropIn) {
		t.Fatalf("drop-in: %v\n%s", err, data)
	}
}

func TestBackupIntervalTheTimerCannotTakeIsAnError(t *testing.T) {
	b := backupBundle()
	b.Payload.Backup.Interval = spec.Duration(1500 * time.Millisecond)
	if _, err := RenderCloudInit(b); err == nil || !strings.Contains(err.Error(), "backup.interval") {
		t.Fatalf("want a backup.interval error, got %v", err)
	}
}
