package backupstore

import (
	"strings"
	"testing"
	"time"
)

func TestExpiredKeepsByCountAndAgeButAlwaysTheNewest(t *testing.T) {
	var backups []Manifest // newest first, one an hour from t0+4h down to t0
	for i := 4; i >= 0; i-- {
		taken := t0.Add(time.Duration(i) * time.Hour)
		backups = append(backups, Manifest{Name: Name("demo", taken), Taken: taken})
	}
	at := func(h int) string { return Name("demo", t0.Add(time.Duration(h)*time.Hour)) }
	now := t0.Add(4*time.Hour + time.Minute)
	for _, c := range []struct {
		name string
		r    Retention
		now  time.Time
		want []string
	}{
		{"no limits", Retention{}, now, nil},
		{"keep 2", Retention{Keep: 2}, now, []string{at(0), at(1), at(2)}},
		{"keep more than there are", Retention{Keep: 9}, now, nil},
		{"older than 2h", Retention{MaxAge: 2 * time.Hour}, now, []string{at(0), at(1), at(2)}},
		{"count and age, either removes", Retention{Keep: 4, MaxAge: 150 * time.Minute}, now, []string{at(0), at(1)}},
		{"all too old, the newest stays", Retention{MaxAge: time.Hour}, t0.Add(100 * time.Hour), []string{at(0), at(1), at(2), at(3)}},
		{"keep 1", Retention{Keep: 1}, now, []string{at(0), at(1), at(2), at(3)}},
	} {
		got := names(Expired(backups, c.r, c.now))
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: Expired = %v, want %v", c.name, got, c.want)
		}
	}
	if got := Expired(nil, Retention{Keep: 1}, now); len(got) != 0 {
		t.Errorf("Expired(nil) = %v", got)
	}
}

func TestNamesAndKeys(t *testing.T) {
	name := Name("demo-2", time.Date(2024, 1, 31, 23, 59, 59, 123e6, time.FixedZone("x", 3600)))
	if name != "demo-2-20240131T225959.123Z" {
		t.Fatalf("Name = %s", name)
	}
	if c, ok := ClusterOf(name); !ok || c != "demo-2" {
		t.Errorf("ClusterOf(%s) = %q, %v", name, c, ok)
	}
	for _, bad := range []string{"demo", "demo-2024", "-20240131T225959.123Z", "demo_20240131T225959.123Z"} {
		if c, ok := ClusterOf(bad); ok {
			t.Errorf("ClusterOf(%s) = %q", bad, c)
		}
	}
	for _, c := range []struct{ key, prefix, name string }{
		{"etcd/prod/snapshots/" + name + ".db", "etcd/prod/", name},
		{"/etcd/manifests/" + name + ".json", "/etcd/", name},
		{"snapshots/" + name + ".db", "", name},
	} {
		prefix, got, ok := NameFromKey(c.key)
		if !ok || prefix != c.prefix || got != c.name {
			t.Errorf("NameFromKey(%s) = %q, %q, %v", c.key, prefix, got, ok)
		}
	}
	for _, key := range []string{"etcd/" + name + ".db", "snapshots/" + name + ".db.sha256", "manifests/x/.json"} {
		if _, _, ok := NameFromKey(key); ok {
			t.Errorf("NameFromKey(%s) is a backup", key)
		}
	}
}
