package chaos

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// brokenTag builds the deliberately broken agent: its joins remove a voter
// of a full group whether or not it answers, and never ask whether quorum
// survives (bootstrap/quorumguard_broken.go).
const brokenTag = "chaos_no_quorum_guard"

// TestChaosCatchesABrokenAgent shows that the suite's checks can fail: the
// same group and faults, run by an agent built without its quorum guard,
// must end in a violation. Three replacements one after the other: a
// replacement takes a voter that still answers in place of the dead one
// unless the dead one happens to be listed first every time (member IDs
// order the list), and the group then loses quorum and never converges.
func TestChaosCatchesABrokenAgent(t *testing.T) {
	bin := brokenBin(t)
	sched := Schedule{Seed: 0, Size: 3}
	for pick := range 3 {
		sched.Steps = append(sched.Steps, Step{Faults: []Fault{{Kind: Replace, Pick: pick}}})
	}
	f := &figures{Size: sched.Size}
	failures := runSchedule(t, sched, f, runOptions{bin: bin, stopAtFirst: true})
	if len(failures) == 0 {
		t.Fatalf("an agent built with -tags %s ran %d replacements and the suite saw no violation", brokenTag, len(sched.Steps))
	}
	t.Logf("the broken agent was caught: %s", strings.Join(failures, "; "))
}

// brokenBin builds the broken agent into a directory beside links to the
// usual etcd binaries, and returns it.
func brokenBin(t *testing.T) string {
	t.Helper()
	src := etcdtest.BinDir(t, "etcd", "etcdctl", "etcdboot-agent")
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "etcdboot-agent" {
			continue
		}
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-tags", brokenTag, "-o", filepath.Join(dir, "etcdboot-agent"), "github.com/etcdboot/etcdboot/cmd/etcdboot-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the broken agent: %v\n%s", err, out)
	}
	return dir
}
