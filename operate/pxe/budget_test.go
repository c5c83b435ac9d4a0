package pxe

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestFetchBudgetGoesThenRearms(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig(t, tr)
	cfg.FetchLimit = 2
	s := startServer(t, cfg)
	ign := "/ignition?mac=" + macEtcd1
	ud := "/cloud-init/" + macEtcd1 + "/user-data"

	// HEAD counts nothing, however often.
	for range 3 {
		if r := do(t, s, http.MethodHead, ign); r.status != http.StatusOK {
			t.Fatalf("HEAD: status %d", r.status)
		}
	}
	// Both payload formats draw on the node's one budget.
	for _, target := range []string{ign, ud} {
		if r := do(t, s, http.MethodGet, target); r.status != http.StatusOK {
			t.Fatalf("GET %s: status %d", target, r.status)
		}
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		for _, target := range []string{ign, ud} {
			r := do(t, s, method, target)
			if r.status != http.StatusGone {
				t.Errorf("%s %s after 2 fetches: status %d, want 410", method, target, r.status)
			}
			if method == http.MethodGet && r.body != goneBody+"\n" {
				t.Errorf("410 body %q", r.body)
			}
		}
	}
	// Other nodes, and what is not a payload, are not affected.
	if r := do(t, s, http.MethodGet, "/ignition?mac="+macEtcd2); r.status != http.StatusOK {
		t.Errorf("etcd2: status %d", r.status)
	}
	if r := do(t, s, http.MethodGet, "/ipxe?mac="+macEtcd1); r.status != http.StatusOK {
		t.Errorf("etcd1 script: status %d", r.status)
	}

	if err := s.Rearm("etcd1"); err != nil {
		t.Fatalf("Rearm: %v", err)
	}
	if r := do(t, s, http.MethodGet, ign); r.status != http.StatusOK {
		t.Errorf("after Rearm: status %d, want 200", r.status)
	}
	if err := s.Rearm("etcd9"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Rearm(etcd9): %v, want ErrUnknownNode", err)
	}
}

func TestGroupFetchLimitOverridesTheDefault(t *testing.T) {
	tr := newTree(t)
	groups := mustRead(t, tr.groups) + "- selector: {mac: 52:54:00:aa:bb:55}\n  node: etcd3\n  fetchLimit: 1\n"
	if err := os.WriteFile(tr.groups, []byte(groups), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, testConfig(t, tr)) // no default limit
	target := "/ignition?mac=52:54:00:aa:bb:55"
	if r := do(t, s, http.MethodGet, target); r.status != http.StatusOK {
		t.Fatalf("first fetch: status %d", r.status)
	}
	if r := do(t, s, http.MethodGet, target); r.status != http.StatusGone {
		t.Errorf("second fetch: status %d, want 410", r.status)
	}
}

func TestFetchCounterSurvivesARestart(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig(t, tr)
	cfg.FetchLimit = 1
	target := "/ignition?mac=" + macEtcd1

	s := startServer(t, cfg)
	if r := do(t, s, http.MethodGet, target); r.status != http.StatusOK {
		t.Fatalf("first fetch: status %d", r.status)
	}
	stopServer(t, s)

	statePath := filepath.Join(tr.out, stateFile)
	fi, err := os.Stat(statePath)
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	var st budgetState
	if err := json.Unmarshal([]byte(mustRead(t, statePath)), &st); err != nil || st.Fetched["etcd1"] != 1 {
		t.Errorf("state file %q (%v): want etcd1 counted once", mustRead(t, statePath), err)
	}

	s = startServer(t, cfg)
	if r := do(t, s, http.MethodGet, target); r.status != http.StatusGone {
		t.Fatalf("after restart: status %d, want 410", r.status)
	}
	if err := s.RearmAll(); err != nil {
		t.Fatal(err)
	}
	stopServer(t, s)

	s = startServer(t, cfg)
	if r := do(t, s, http.MethodGet, target); r.status != http.StatusOK {
		t.Errorf("after RearmAll and restart: status %d, want 200", r.status)
	}
}

func TestCorruptStateFileFailsClosed(t *testing.T) {
	tr := newTree(t)
	if err := os.WriteFile(filepath.Join(tr.out, stateFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(testConfig(t, tr)); err == nil {
		t.Fatal("New accepted a corrupt state file: every budget would silently re-open")
	}
}

func TestUnpersistableCountIsNotServed(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig(t, tr)
	cfg.FetchLimit = 5
	s := startServer(t, cfg)
	// A directory where the state file goes: the rename over it fails.
	if err := os.Mkdir(filepath.Join(tr.out, stateFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tr.out, stateFile, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := do(t, s, http.MethodGet, "/ignition?mac="+macEtcd1)
	if r.status != http.StatusInternalServerError || r.body != failedBody+"\n" {
		t.Errorf("status %d body %q, want 500 %q", r.status, r.body, failedBody)
	}
	if n := s.budget.count("etcd1"); n != 0 {
		t.Errorf("count %d after a fetch that was not served, want 0", n)
	}
}
