package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// bbolt trusts the pages it reads. On a damaged page its consistency check
// panics in a goroutine of its own (Tx.Check), where no recover of ours can
// reach, and the panic would end whichever binary asked: the operator's
// `etcdboot snapshot status`, or the agent in the middle of a backup round.
// So the database is read in a child process: the running binary itself,
// re-executed with dbCheckEnv naming the file. init below turns such a child
// into the check before main runs, so every binary that links this package
// (the CLI, the agent, a test binary) can be its own child.

// dbCheckEnv names the snapshot a child process checks.
const dbCheckEnv = "ETCDBOOT_SNAPSHOT_DBCHECK"

// dbCheckTimeout bounds one child's check; bbolt reads a 100 MB database in
// seconds.
const dbCheckTimeout = 10 * time.Minute

func init() {
	if path := os.Getenv(dbCheckEnv); path != "" {
		os.Exit(runDBCheck(path))
	}
}

// runDBCheck is the child: it prints etcdutl's status of path as JSON, or
// the error on stderr with exit code 1. A panic exits 2 with Go's trace.
func runDBCheck(path string) int {
	st, err := etcdutl.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := json.NewEncoder(os.Stdout).Encode(st); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// dbStatus runs etcdutl's status of path in a child process and returns it;
// a damaged database is an error that says what bbolt found, never a crash.
func dbStatus(path string) (etcdutl.Status, error) {
	self, err := os.Executable()
	if err != nil {
		return etcdutl.Status{}, fmt.Errorf("find this binary to check the database in a child process: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dbCheckTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), dbCheckEnv+"="+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return etcdutl.Status{}, fmt.Errorf("reading the database took longer than %s", dbCheckTimeout)
	}
	if runErr != nil {
		var exit *exec.ExitError
		if !errors.As(runErr, &exit) {
			return etcdutl.Status{}, fmt.Errorf("check the database in a child process: %w", runErr)
		}
		return etcdutl.Status{}, errors.New(childProblem(stderr.String()))
	}
	var st etcdutl.Status
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		return etcdutl.Status{}, fmt.Errorf("the database check printed %q: %w", stdout.String(), err)
	}
	return st, nil
}

// childProblem turns a child's stderr into one line: the panic's message
// without Go's goroutine trace, or the error it printed.
func childProblem(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if msg, ok := strings.CutPrefix(l, "panic: "); ok {
			return "reading the database panicked: " + strings.TrimSuffix(msg, " [recovered]")
		}
	}
	var kept []string
	for _, l := range lines {
		if strings.HasPrefix(l, "goroutine ") {
			break
		}
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	if len(kept) == 0 {
		return "reading the database failed without a message"
	}
	return strings.Join(kept, "; ")
}
