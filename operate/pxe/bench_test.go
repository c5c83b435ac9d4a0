package pxe

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
)

// BenchmarkServeIgnition fetches one machine's Ignition config over
// loopback HTTP, keep-alive, as machines booting in a batch would.
func BenchmarkServeIgnition(b *testing.B) {
	cfg := testConfig(b, newTree(b))
	// The access log is part of the cost; its output is not.
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s := startServer(b, cfg)
	url := "http://" + s.Addr() + "/ignition?mac=52-54-00-aa-bb-01"
	c := &http.Client{}
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		m, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d, %v", resp.StatusCode, err)
		}
		n = m
	}
	b.SetBytes(n)
}
