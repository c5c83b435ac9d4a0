package pxe

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// runWrk loads url with the real wrk (Debian) on loopback for a bounded 5 s
// and returns its requests per second.
func runWrk(b *testing.B, wrk, url string) float64 {
	out, err := exec.Command(wrk, "-t2", "-c16", "-d5s", url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	// Error answers (a spent fetch budget, a 404) are cheap: they must not count.
	if bytes.Contains(out, []byte("Non-2xx or 3xx responses")) {
		b.Fatalf("wrk saw error responses from %s:\n%s", url, out)
	}
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		b.Fatalf("wrk printed no rate:\n%s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	return rps
}

// BenchmarkWrkIgnitionVsStaticFile compares `etcdboot serve`'s /ignition
// (selector match, fetch accounting, access log) with a plain static file
// server handing out the same bytes, under the same wrk load, same run.
func BenchmarkWrkIgnitionVsStaticFile(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			b.Fatal("wrk missing: run make deps")
		}
		b.Skip("wrk missing: run make deps")
	}
	cfg := testConfig(b, newTree(b))
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := startServer(b, cfg)
	ours := "http://" + s.Addr() + "/ignition?mac=52-54-00-aa-bb-01"
	resp, err := http.Get(ours)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ignition.json"), body, 0o644); err != nil {
		b.Fatal(err)
	}
	static := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer static.Close()
	b.ResetTimer()
	var oursRPS, staticRPS float64
	for i := 0; i < b.N; i++ {
		oursRPS += runWrk(b, wrk, ours)
		staticRPS += runWrk(b, wrk, static.URL+"/ignition.json")
	}
	oursRPS, staticRPS = oursRPS/float64(b.N), staticRPS/float64(b.N)
	b.ReportMetric(oursRPS, "serve-req/s")
	b.ReportMetric(staticRPS, "static-req/s")
	b.ReportMetric(oursRPS/staticRPS, "serve/static")
	b.Logf("/ignition: etcdboot serve %.0f req/s, static file server %.0f req/s, ratio %.2f", oursRPS, staticRPS, oursRPS/staticRPS)
}
