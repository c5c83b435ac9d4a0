package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDBCheckStartedAheadChecksOrEndsUnused covers the child Save starts
// before its snapshot arrives: given a path it reports what bbolt finds,
// and abandoned it exits without checking anything.
func TestDBCheckStartedAheadChecksOrEndsUnused(t *testing.T) {
	st, err := startDBCheck().status(filepath.Join("testdata", "three-keys.db"))
	if err != nil {
		t.Fatalf("status of testdata/three-keys.db: %v", err)
	}
	if st.TotalKey != 3 {
		t.Errorf("status of testdata/three-keys.db: %d keys, want 3", st.TotalKey)
	}

	notDB := filepath.Join(t.TempDir(), "not.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("x", 8192)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := startDBCheck().status(notDB); err == nil {
		t.Error("status of a file that is no database: no error")
	}

	c := startDBCheck()
	c.abandon()
	if c.cmd.ProcessState == nil || !c.cmd.ProcessState.Success() {
		t.Errorf("abandoned child: %v, want a clean exit", c.cmd.ProcessState)
	}
	if _, err := c.status(notDB); err == nil {
		t.Error("status after abandon: no error")
	}
}
