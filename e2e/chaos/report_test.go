package chaos

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// figures are what one schedule did and took.
type figures struct {
	Seed uint64
	Size int
	// Faults counts the faults run by kind; LeaveRefusals the leaves
	// refused while another member was away (and run again).
	Faults        map[Kind]int
	LeaveRefusals int
	// Repairs counts the instances replaced after a failed step.
	Repairs int
	// Calls counts the clients' calls by kind and result.
	Calls map[OpKind]map[Result]int
	// Checked is how many operations porcupine checked; AppliedUnacked
	// and LostUnacked the writes that failed or timed out which the
	// revision history shows applied, and not; MaybeDeletes the deletes
	// left open.
	Checked, AppliedUnacked, LostUnacked, MaybeDeletes int
	Porcupine                                          time.Duration
	// Faulting is how long the steps took; Settles how long the group
	// took to converge after each.
	Faulting   time.Duration
	Settles    []time.Duration
	Violations int
}

func (f *figures) count(calls []Op) {
	f.Calls = map[OpKind]map[Result]int{}
	for _, c := range calls {
		if f.Calls[c.Kind] == nil {
			f.Calls[c.Kind] = map[Result]int{}
		}
		f.Calls[c.Kind][c.Result]++
	}
}

// results sums the calls by result.
func (f *figures) results() map[Result]int {
	out := map[Result]int{}
	for _, byResult := range f.Calls {
		for r, n := range byResult {
			out[r] += n
		}
	}
	return out
}

func (f *figures) summary() string {
	var kinds []string
	for _, k := range sortedKinds(f.Faults) {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, f.Faults[k]))
	}
	r := f.results()
	p50, p99 := percentile(f.Settles, 50), percentile(f.Settles, 99)
	return fmt.Sprintf("faults [%s], %d leave refusals, %d repairs; calls ok %d, failed %d, unknown %d; %d operations checked in %v (unanswered writes applied %d, not applied %d, open deletes %d); faults for %v, converged after a step in p50 %v, p99 %v; %d violations",
		strings.Join(kinds, ", "), f.LeaveRefusals, f.Repairs, r[ResultOK], r[ResultFailed], r[ResultUnknown], f.Checked, f.Porcupine.Round(time.Millisecond),
		f.AppliedUnacked, f.LostUnacked, f.MaybeDeletes, f.Faulting.Round(time.Second), p50.Round(10*time.Millisecond), p99.Round(10*time.Millisecond), f.Violations)
}

// percentile is the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))]
}

// figuresTable is a Markdown table of a set: one row per seed, then the
// totals.
func figuresTable(all []*figures) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| seed | size | faults | calls (ok/failed/unknown) | checked | porcupine | settle p50 | settle p99 | violations |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|\n")
	total := &figures{Faults: map[Kind]int{}, Calls: map[OpKind]map[Result]int{}}
	var settles []time.Duration
	for _, f := range all {
		if f.Calls == nil {
			fmt.Fprintf(&b, "| %d | %d | (did not run) | | | | | | |\n", f.Seed, f.Size)
			continue
		}
		r := f.results()
		fmt.Fprintf(&b, "| %d | %d | %s | %d/%d/%d | %d | %v | %v | %v | %d |\n", f.Seed, f.Size, faultList(f.Faults),
			r[ResultOK], r[ResultFailed], r[ResultUnknown], f.Checked, f.Porcupine.Round(time.Millisecond),
			percentile(f.Settles, 50).Round(10*time.Millisecond), percentile(f.Settles, 99).Round(10*time.Millisecond), f.Violations)
		for k, n := range f.Faults {
			total.Faults[k] += n
		}
		for k, byResult := range f.Calls {
			if total.Calls[k] == nil {
				total.Calls[k] = map[Result]int{}
			}
			for res, n := range byResult {
				total.Calls[k][res] += n
			}
		}
		total.Checked += f.Checked
		total.Porcupine += f.Porcupine
		total.Violations += f.Violations
		settles = append(settles, f.Settles...)
	}
	r := total.results()
	fmt.Fprintf(&b, "| all %d | | %s | %d/%d/%d | %d | %v | %v | %v | %d |\n", len(all), faultList(total.Faults),
		r[ResultOK], r[ResultFailed], r[ResultUnknown], total.Checked, total.Porcupine.Round(time.Millisecond),
		percentile(settles, 50).Round(10*time.Millisecond), percentile(settles, 99).Round(10*time.Millisecond), total.Violations)
	return b.String()
}

func faultList(m map[Kind]int) string {
	var parts []string
	for _, k := range sortedKinds(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// report is what a failing schedule leaves for whoever replays it.
type report struct {
	sched           Schedule
	logDir, workDir string
	calls           []Op
	events          []event
	failures        []string
	model           porcupine.Model
	info            *porcupine.LinearizationInfo
	mu              sync.Mutex
	lines           []string
}

func (r *report) trace(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
}

// writeOnFailure writes, when the test failed, the seed, the schedule and
// what ran of it, the history, etcd's revision history, porcupine's
// visualization, the processes' logs and each node's etcd log and journal
// into the test's output directory, and says where.
func (r *report) writeOnFailure(t *testing.T) {
	if !t.Failed() {
		return
	}
	replay := fmt.Sprintf("%s=%d %s=%d %s=%v go test -count=1 -v -run 'TestChaos$' ./e2e/chaos/",
		envSeed, r.sched.Seed, envSize, r.sched.Size, envLength, scheduleLength(r.sched))
	t.Logf("seed %d failed; replay it with: %s", r.sched.Seed, replay)
	dir, err := outputDir(t, r.sched.Seed)
	if err != nil {
		t.Logf("no report written: %v", err)
		return
	}
	var summary strings.Builder
	fmt.Fprintf(&summary, "seed %d\nreplay: %s\n\n%s\nviolations:\n", r.sched.Seed, replay, r.sched)
	for _, f := range r.failures {
		fmt.Fprintf(&summary, "- %s\n", f)
	}
	fmt.Fprintf(&summary, "\ntrace:\n%s\n", strings.Join(r.lines, "\n"))
	files := map[string][]byte{"report.txt": []byte(summary.String())}
	if data, err := json.MarshalIndent(r.calls, "", " "); err == nil && r.calls != nil {
		files["history.json"] = data
	}
	if data, err := json.MarshalIndent(r.events, "", " "); err == nil && r.events != nil {
		files["revisions.json"] = data
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Logf("write %s: %v", name, err)
		}
	}
	if r.info != nil {
		if err := porcupine.VisualizePath(r.model, *r.info, filepath.Join(dir, "linearizability.html")); err != nil {
			t.Logf("porcupine visualization: %v", err)
		}
	}
	if err := copyTree(r.logDir, filepath.Join(dir, "logs")); err != nil {
		t.Logf("copy the process logs: %v", err)
	}
	// Each node's etcd log and journal, without the data dirs.
	_ = filepath.WalkDir(filepath.Join(r.workDir, "nodes"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (d.Name() != "etcd.log" && d.Name() != "journal.json") {
			return nil
		}
		rel, _ := filepath.Rel(r.workDir, path)
		return copyFile(path, filepath.Join(dir, rel))
	})
	t.Logf("seed %d: report, history, porcupine's visualization (linearizability.html) and logs in %s", r.sched.Seed, dir)
}

// scheduleLength is the length a schedule was drawn for, as a replay needs
// it: the env var's, else the set's default.
func scheduleLength(s Schedule) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(envLength)); err == nil {
		return d
	}
	if s.Size == longSize && os.Getenv(envLong) == "1" {
		return longLength
	}
	return ciLength
}

// outputDir is the test's output directory: go test's artifact directory
// with -artifacts, else ETCDBOOT_CHAOS_OUT or out/chaos/ in the module,
// which (unlike the artifact directory without -artifacts) outlive the
// test.
func outputDir(t *testing.T, seed uint64) (string, error) {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir(), nil
	}
	base := os.Getenv(envOut)
	if base == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		base = filepath.Join(root, "out", "chaos")
	}
	dir := filepath.Join(base, fmt.Sprintf("seed-%d-%s", seed, time.Now().Format("20060102-150405")))
	return dir, os.MkdirAll(dir, 0o755)
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		return copyFile(path, filepath.Join(to, rel))
	})
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}
