package pxe

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"sync"

	"github.com/etcdboot/etcdboot/internal/atomicfile"
)

// stateFile holds the fetch counters under the served directory, so that a
// restart does not hand out a node's keys again.
const stateFile = "serve-state.json"

// ErrBudgetExhausted is returned when a node's payload has been fetched as
// often as its fetch limit allows; Rearm resets it.
var ErrBudgetExhausted = errors.New("fetch budget exhausted")

// fetchBudget counts payload fetches per node and persists every count
// before the payload it counts is sent.
type fetchBudget struct {
	path string

	mu      sync.Mutex
	fetched map[string]int
}

// budgetState is the state file's content.
type budgetState struct {
	// Fetched counts payload fetches per node since it was last re-armed.
	Fetched map[string]int `json:"fetched"`
}

// loadBudget reads the counters at path; a missing file is all zeros, a
// corrupt one an error (resetting them silently would re-open every budget).
func loadBudget(path string) (*fetchBudget, error) {
	b := &fetchBudget{path: path, fetched: map[string]int{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read fetch counters: %w", err)
	}
	var st budgetState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w; fix it, or delete it to re-arm every node", path, err)
	}
	for node, n := range st.Fetched {
		if n < 0 {
			return nil, fmt.Errorf("%s: node %s: count %d is negative; fix it, or delete the file to re-arm every node", path, node, n)
		}
		b.fetched[node] = n
	}
	return b, nil
}

// take counts one fetch of node's payload if limit allows it, and persists
// the count before returning; it returns how many fetches are left. limit 0
// is no limit and counts nothing.
func (b *fetchBudget) take(node string, limit int) (left int, err error) {
	if limit <= 0 {
		return -1, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.fetched[node]
	if n >= limit {
		return 0, ErrBudgetExhausted
	}
	b.fetched[node] = n + 1
	if err := b.persistLocked(); err != nil {
		// Fail closed: the payload is not sent, so the fetch did not happen.
		b.fetched[node] = n
		return 0, err
	}
	return limit - n - 1, nil
}

// allows reports whether one more fetch fits, without counting one.
func (b *fetchBudget) allows(node string, limit int) bool {
	if limit <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fetched[node] < limit
}

// count returns how often node's payload was fetched since re-arming.
func (b *fetchBudget) count(node string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fetched[node]
}

// rearm resets the counters of nodes, or of every node when nodes is nil.
func (b *fetchBudget) rearm(nodes []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := maps.Clone(b.fetched)
	if nodes == nil {
		clear(b.fetched)
	}
	for _, n := range nodes {
		delete(b.fetched, n)
	}
	if maps.Equal(old, b.fetched) {
		return nil
	}
	if err := b.persistLocked(); err != nil {
		b.fetched = old
		return err
	}
	return nil
}

func (b *fetchBudget) persistLocked() error {
	data, err := json.MarshalIndent(budgetState{Fetched: b.fetched}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode fetch counters: %w", err)
	}
	if err := atomicfile.Write(b.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("persist fetch counters: %w", err)
	}
	return nil
}
