package pxe

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/internal/atomicfile"
)

func TestReloadServesAReplacedPayload(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig(t, tr)
	cfg.ReloadInterval = 20 * time.Millisecond
	s := startServer(t, cfg)
	target := "/ignition?mac=" + macEtcd1
	old := do(t, s, http.MethodGet, target).body

	// What the generator does: a temp file beside the target, then rename.
	newIgn := `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/reloaded"}]}}`
	if err := atomicfile.Write(filepath.Join(tr.out, "nodes", "etcd1", "ignition.json"), []byte(newIgn), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new ignition.json to be served", func() bool {
		return do(t, s, http.MethodGet, target).body == newIgn
	})
	if old == newIgn {
		t.Fatal("test is void: the old payload equals the new one")
	}
}

func TestReloadKeepsTheOldSnapshotWhenAFileIsCorrupt(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig(t, tr)
	cfg.ReloadInterval = 20 * time.Millisecond
	log, logs := testLogger(t)
	cfg.Logger = log
	s := startServer(t, cfg)
	before := s.Snapshot()
	ign1 := do(t, s, http.MethodGet, "/ignition?mac="+macEtcd1).body
	ign2 := do(t, s, http.MethodGet, "/ignition?mac="+macEtcd2).body

	// A corrupt node.yaml for etcd2 and, in the same tree, a new payload
	// for etcd1: neither may be served, as the tree no longer loads whole.
	corrupt := filepath.Join(tr.out, "nodes", "etcd2", "node.yaml")
	if err := atomicfile.Write(corrupt, []byte("apiVersion: etcdboot/v1\nnode: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(filepath.Join(tr.out, "nodes", "etcd1", "ignition.json"), []byte(`{"ignition":{"version":"3.4.0"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failed reload to be logged", func() bool {
		return strings.Contains(logs.String(), "reload failed; still serving the previous snapshot")
	})
	if !strings.Contains(logs.String(), "etcd2/node.yaml") {
		t.Errorf("the reload error does not name the corrupt file:\n%s", logs)
	}
	if s.Snapshot() != before {
		t.Error("the snapshot was replaced")
	}
	if got := do(t, s, http.MethodGet, "/ignition?mac="+macEtcd1).body; got != ign1 {
		t.Error("etcd1: served the payload of a tree that failed to load")
	}
	if got := do(t, s, http.MethodGet, "/ignition?mac="+macEtcd2).body; got != ign2 {
		t.Error("etcd2: old payload no longer served")
	}
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "node.yaml") {
		t.Errorf("Reload: %v, want an error naming node.yaml", err)
	}

	// Repaired, the tree loads again by itself.
	if err := os.WriteFile(corrupt, []byte(mustRead(t, filepath.Join(fixtureDir, "out", "nodes", "etcd2", "node.yaml"))), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the repaired tree to be served", func() bool {
		return do(t, s, http.MethodGet, "/ignition?mac="+macEtcd1).body == `{"ignition":{"version":"3.4.0"}}`
	})
}

func TestTruncatedPayloadIsNeverServed(t *testing.T) {
	tr := newTree(t)
	s := startServer(t, testConfig(t, tr))
	target := "/ignition?mac=" + macEtcd1
	whole := do(t, s, http.MethodGet, target).body
	// Written in place, not by rename: a reader sees half a file.
	path := filepath.Join(tr.out, "nodes", "etcd1", "ignition.json")
	if err := os.WriteFile(path, []byte(whole[:len(whole)/2]), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "ignition.json: not valid JSON") {
		t.Errorf("Reload: %v, want ignition.json: not valid JSON", err)
	}
	if got := do(t, s, http.MethodGet, target).body; got != whole {
		t.Errorf("served %d bytes, want the whole old payload (%d bytes)", len(got), len(whole))
	}
	if err := os.WriteFile(path, []byte(whole), 0o600); err != nil {
		t.Fatal(err)
	}
	ud := filepath.Join(tr.out, "nodes", "etcd1", "user-data")
	if err := os.WriteFile(ud, []byte("#cloud-config\nwrite_files:\n  - path: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "user-data") {
		t.Errorf("Reload: %v, want an error naming user-data", err)
	}
}

func TestReloadPicksUpGroupsFileChanges(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig(t, tr)
	cfg.ReloadInterval = 20 * time.Millisecond
	s := startServer(t, cfg)
	target := "/ignition?mac=52:54:00:aa:bb:77"
	if r := do(t, s, http.MethodGet, target); r.status != http.StatusNotFound {
		t.Fatalf("status %d before the group exists", r.status)
	}
	groups := mustRead(t, tr.groups) + "- selector: {mac: 52:54:00:aa:bb:77}\n  node: etcd1\n"
	if err := atomicfile.Write(tr.groups, []byte(groups), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new group to be served", func() bool {
		return do(t, s, http.MethodGet, target).status == http.StatusOK
	})
	// A broken groups file keeps the machines of the last good one.
	if err := atomicfile.Write(tr.groups, []byte("- selector: {mac: nope}\n  node: etcd1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "groups.yaml:1:3: groups[0]: selector: bad selector") {
		t.Errorf("Reload: %v", err)
	}
	if r := do(t, s, http.MethodGet, target); r.status != http.StatusOK {
		t.Errorf("status %d after a broken groups file; want the last good one served", r.status)
	}
}

func TestShouldLoadWaitsForTheTreeToHoldStill(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		fp, served, pending, fail string
		load                      bool
		nextPending               string
	}{
		{"unchanged", "A", "A", "", "", false, ""},
		{"first sight of a change", "B", "A", "", "", false, "B"},
		{"changed again before settling", "C", "A", "B", "", false, "C"},
		{"held still for one poll", "B", "A", "B", "", true, ""},
		{"known to fail", "B", "A", "B", "B", false, ""},
		{"changed after a failure", "C", "A", "", "B", false, "C"},
		{"back to what is served", "A", "A", "B", "", false, ""},
	} {
		load, next := shouldLoad(tc.fp, tc.served, tc.pending, tc.fail)
		if load != tc.load || next != tc.nextPending {
			t.Errorf("%s: load %v pending %q, want %v %q", tc.name, load, next, tc.load, tc.nextPending)
		}
	}
}
