package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// releaseDir is where release built, for TestMain to remove.
var releaseDir string

// release builds both binaries once per test process with the Makefile's
// build target (its flags and tags, into a temporary BIN), so that the size
// measured is the size shipped.
var release = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "etcdboot-release-")
	if err != nil {
		return "", err
	}
	releaseDir = dir
	out, err := exec.Command("make", "-C", filepath.Join("..", ".."), "--no-print-directory", "-s", "BIN="+dir, "build").CombinedOutput()
	if err != nil {
		return "", &buildError{err: err, out: out}
	}
	return dir, nil
})

// TestMain removes the release build once every benchmark run has used it.
func TestMain(m *testing.M) {
	code := m.Run()
	if releaseDir != "" {
		os.RemoveAll(releaseDir)
	}
	os.Exit(code)
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "make build: " + e.err.Error() + "\n" + string(e.out) }

// BenchmarkAgentBinarySize reports the size of the release etcdboot-agent
// in MB (the goal is at most 25) and of the operator's etcdboot beside it
// (etcdboot-MB). It builds once per process; the figure does not depend on
// b.N.
func BenchmarkAgentBinarySize(b *testing.B) {
	if _, err := exec.LookPath("make"); err != nil {
		b.Skip("make is not installed")
	}
	dir, err := release()
	if err != nil {
		b.Fatal(err)
	}
	size := func(name string) float64 {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		return float64(st.Size()) / 1e6
	}
	for b.Loop() {
	}
	b.ReportMetric(size("etcdboot-agent"), "MB")
	b.ReportMetric(size("etcdboot"), "etcdboot-MB")
}
