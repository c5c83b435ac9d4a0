package pxe

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAssetsServesFilesOnlyFromItsDirectory(t *testing.T) {
	tr := newTree(t)
	assets := t.TempDir()
	kernel := bytes.Repeat([]byte("k"), 4096)
	if err := os.MkdirAll(filepath.Join(assets, "flatcar"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(assets, "flatcar", "flatcar_production_pxe.vmlinuz"), kernel, 0o644); err != nil {
		t.Fatal(err)
	}
	// A link out of the directory, to a key: must not be followed.
	if err := os.Symlink(filepath.Join(tr.out, "pki", "ca.key"), filepath.Join(assets, "flatcar", "escape")); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, tr)
	cfg.AssetsDir = assets
	s := startServer(t, cfg)
	if r := do(t, s, http.MethodGet, "/assets/flatcar/flatcar_production_pxe.vmlinuz"); r.status != http.StatusOK || r.body != string(kernel) {
		t.Errorf("kernel: status %d, %d bytes", r.status, len(r.body))
	}
	for _, target := range []string{"/assets/", "/assets/flatcar/", "/assets/flatcar", "/assets/flatcar/escape", "/assets/../out/pki/ca.key"} {
		r := do(t, s, http.MethodGet, target)
		if r.status != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", target, r.status)
		}
		if strings.Contains(r.body, "PRIVATE KEY") || strings.Contains(r.body, "flatcar_production") {
			t.Errorf("%s: leaked %q", target, clip(r.body))
		}
	}
}

func TestConfigProblemsAreReportedTogether(t *testing.T) {
	tr := newTree(t)
	cfg := Config{Dir: tr.out, Listen: ":8080", FetchLimit: -1, AssetsDir: filepath.Dir(tr.out)}
	_, err := New(cfg)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`listen address ":8080" names no host machines can reach: set the base URL`,
		"fetch limit -1 is negative",
		"contains " + tr.out + ", whose keys must not be served",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, bad := range []string{"ftp://x", "http://x/?a=b", "http://x/$y", "http:///path"} {
		if _, err := New(Config{Dir: tr.out, BaseURL: bad}); err == nil || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("base URL %q: %v", bad, err)
		}
	}
	if _, err := New(Config{Dir: t.TempDir(), Listen: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "run etcdboot generate first") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestShutdownIsGracefulAndFinal(t *testing.T) {
	s := startServer(t, testConfig(t, newTree(t)))
	addr := s.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != ErrServerClosed {
		t.Errorf("second Shutdown: %v, want ErrServerClosed", err)
	}
	if err := s.Start(); err != ErrServerClosed {
		t.Errorf("Start after Shutdown: %v, want ErrServerClosed", err)
	}
	if _, err := testClient.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("still answering after Shutdown")
	}
}

func TestRunRearmsOnSignalAndStopsWithItsContext(t *testing.T) {
	tr := newTree(t)
	cfg := testConfig(t, tr)
	cfg.Listen = "127.0.0.1:0"
	cfg.FetchLimit = 1
	// Spend etcd1's budget before Run starts, as an earlier run would have.
	b, err := loadBudget(filepath.Join(tr.out, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.take("etcd1", 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	status := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, hup, status) }()
	var base string
	eventually(t, "Run to report its address", func() bool {
		line := status.String()
		if i := strings.Index(line, " on 127.0.0.1:"); i >= 0 {
			base = "http://" + strings.Fields(line[i+4:])[0]
			base = strings.TrimSuffix(base, ";")
			return true
		}
		return false
	})
	target := "/ignition?mac=" + macEtcd1
	if r := doWith(t, testClient, base, http.MethodGet, target); r.status != http.StatusGone {
		t.Fatalf("status %d before the signal, want 410", r.status)
	}
	hup <- os.Interrupt // any value: Run does not look at which signal
	eventually(t, "the budget to be re-armed", func() bool {
		return doWith(t, testClient, base, http.MethodGet, target).status == http.StatusOK
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
