package snapshot

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// re-executed with dbCheckEnv set, the file's path on its stdin. init below
// turns such a child into the check before main runs, so every binary that
// links this package (the CLI, the agent, a test binary) can be its own
// child.

// dbCheckEnv names the snapshot a child process checks; dbCheckFromStdin
// as its value makes the child read the path from its stdin instead.
const dbCheckEnv = "ETCDBOOT_SNAPSHOT_DBCHECK"

// dbCheckFromStdin lets Save start its child before the snapshot arrives,
// so that starting a large binary overlaps the stream; the path follows on
// stdin once the file is there, and EOF first means nothing to check.
const dbCheckFromStdin = "-"

// dbCheckTimeout bounds one child's check; bbolt reads a 100 MB database in
// seconds.
const dbCheckTimeout = 10 * time.Minute

func init() {
	path := os.Getenv(dbCheckEnv)
	if path == dbCheckFromStdin {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil {
			os.Exit(0)
		}
		path = strings.TrimSuffix(line, "\n")
	}
	if path != "" {
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
	return startDBCheck().status(path)
}

// dbCheck is a child process started ahead of the file it is to check.
type dbCheck struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr bytes.Buffer
	err            error // starting failed
	done           bool
}

// startDBCheck starts the child that will check one database; status gives
// it the path, abandon lets it go unused.
func startDBCheck() *dbCheck {
	c := &dbCheck{}
	self, err := os.Executable()
	if err != nil {
		c.err = fmt.Errorf("find this binary to check the database in a child process: %w", err)
		return c
	}
	c.cmd = exec.Command(self)
	c.cmd.Env = append(os.Environ(), dbCheckEnv+"="+dbCheckFromStdin)
	c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err == nil {
		err = c.cmd.Start()
	}
	if err != nil {
		c.err = fmt.Errorf("check the database in a child process: %w", err)
	}
	return c
}

// status hands path to the child and returns what it found, within
// dbCheckTimeout.
func (c *dbCheck) status(path string) (etcdutl.Status, error) {
	if c.err != nil || c.done {
		return etcdutl.Status{}, cmp.Or(c.err, errors.New("the database check was used already"))
	}
	c.done = true
	_, err := io.WriteString(c.stdin, path+"\n")
	c.stdin.Close()
	timer := time.AfterFunc(dbCheckTimeout, func() { c.cmd.Process.Kill() })
	runErr := c.cmd.Wait()
	if !timer.Stop() {
		return etcdutl.Status{}, fmt.Errorf("reading the database took longer than %s", dbCheckTimeout)
	}
	if runErr != nil {
		var exit *exec.ExitError
		if !errors.As(runErr, &exit) {
			return etcdutl.Status{}, fmt.Errorf("check the database in a child process: %w", cmp.Or(err, runErr))
		}
		return etcdutl.Status{}, errors.New(childProblem(c.stderr.String()))
	}
	var st etcdutl.Status
	if err := json.Unmarshal(c.stdout.Bytes(), &st); err != nil {
		return etcdutl.Status{}, fmt.Errorf("the database check printed %q: %w", c.stdout.String(), err)
	}
	return st, nil
}

// abandon ends an unused child: it reads EOF for a path and exits.
func (c *dbCheck) abandon() {
	if c.err != nil || c.done {
		return
	}
	c.done = true
	c.stdin.Close()
	c.cmd.Wait()
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
