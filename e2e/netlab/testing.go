package netlab

import (
	"os"
	"testing"
)

// RequiredEnv names the environment variable that, set to 1, turns
// NewForTest's skip for lack of root into a failure, so CI cannot pass by
// skipping the end-to-end tests.
const RequiredEnv = "ETCDBOOT_E2E_REQUIRED"

// failureTailLines is how much of each process log NewForTest prints when a
// test fails.
const failureTailLines = 40

// NewForTest is New for tests: it skips the test unless running as root (or
// fails it when ETCDBOOT_E2E_REQUIRED=1), logs to t.TempDir() unless
// opts.LogDir is set, closes the lab in t.Cleanup, and when the test has
// failed prints the last 40 lines of every process's log.
func NewForTest(t testing.TB, opts Options) *Lab {
	t.Helper()
	RequireRoot(t)
	if opts.LogDir == "" {
		opts.LogDir = t.TempDir() // registered before our cleanup, so removed after it
	}
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Kill first so the logs are complete, then print them.
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			l.logTails(t, failureTailLines)
		}
	})
	return l
}

// RequireRoot skips the test unless it runs as root, or fails it when
// ETCDBOOT_E2E_REQUIRED=1. NewForTest calls it; call it directly before other
// root-only steps.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv(RequiredEnv) == "1" {
		t.Fatalf("netlab: the end-to-end tests need root (network namespaces, nftables) and %s=1 forbids skipping; run them as root (sudo -E go test ./e2e/...)", RequiredEnv)
	}
	t.Skipf("netlab: needs root for network namespaces; set %s=1 to make this a failure", RequiredEnv)
}

// logTails prints the last n lines of every process log, once per log file.
func (l *Lab) logTails(t testing.TB, n int) {
	seen := map[string]bool{}
	for _, p := range l.Processes() {
		if seen[p.LogPath()] {
			continue
		}
		seen[p.LogPath()] = true
		t.Logf("--- last %d lines of %s (%s):\n%s", n, p.LogPath(), p, p.Tail(n))
	}
}
