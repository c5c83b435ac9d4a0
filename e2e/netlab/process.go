package netlab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Process is a program started in a host with Host.Start.
type Process struct {
	// Name is the process's name within its host, e.g. "etcd".
	Name string
	// Host is the host it runs in.
	Host *Host

	argv    []string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error // the exit error, set before exited is closed
}

// Start runs argv inside the host through `ip netns exec`, in its own process
// group so that Signal and Close reach its children too. env adds KEY=VALUE
// entries to the lab program's environment. Standard output and error go to
// LogDir/<host>-<name>.log: truncated at the first Start of that name in this
// lab, appended to (after a marker line) when the name is started again, so a
// restarted member's earlier output stays. Start fails while a process of the
// same name runs in the host.
func (h *Host) Start(name string, argv []string, env []string) (*Process, error) {
	if !procRE.MatchString(name) {
		return nil, fmt.Errorf("netlab: host %s: process name %q: want letters, digits, '.', '_' and '-'", h.Name, name)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("netlab: host %s: start %s: empty command", h.Name, name)
	}
	l := h.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	for _, p := range l.procs {
		if p.Host == h && p.Name == name && !p.done() {
			return nil, fmt.Errorf("netlab: host %s: process %s (pid %d) is still running; stop it before starting another", h.Name, name, p.Pid())
		}
	}

	logPath := filepath.Join(l.opts.LogDir, h.Name+"-"+name+".log")
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if !l.logsOpen[logPath] {
		flags |= os.O_TRUNC
	}
	logf, err := os.OpenFile(logPath, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("netlab: host %s: start %s: log: %w", h.Name, name, err)
	}
	defer logf.Close() // the child has its own copy
	l.logsOpen[logPath] = true
	fmt.Fprintf(logf, "--- netlab %s: start %s on %s: %q\n", time.Now().Format(time.RFC3339Nano), name, h.NS, argv)

	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: host %s: start %s %q: %w", h.Name, name, argv, err)
	}
	p := &Process{Name: name, Host: h, argv: argv, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("netlab: process %s on host %s (%q): %w; log %s", name, h.Name, argv, err, logPath)
		}
		p.err = err
		close(p.exited)
	}()
	l.procs = append(l.procs, p)
	return p, nil
}

// Pid returns the process's id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process's whole process group. It returns an error
// wrapping os.ErrProcessDone when nothing in the group is left.
func (p *Process) Signal(sig syscall.Signal) error {
	err := syscall.Kill(-p.Pid(), sig)
	if errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("netlab: signal %v to process %s on host %s: %w", sig, p.Name, p.Host.Name, os.ErrProcessDone)
	}
	if err != nil {
		return fmt.Errorf("netlab: signal %v to process %s on host %s: %w", sig, p.Name, p.Host.Name, err)
	}
	return nil
}

// Wait waits up to timeout (no limit if timeout <= 0) for the process to exit
// and returns ExitErr. On timeout the error wraps os.ErrDeadlineExceeded and
// the process keeps running.
func (p *Process) Wait(timeout time.Duration) error {
	if timeout <= 0 {
		<-p.exited
		return p.err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.err
	case <-t.C:
		return fmt.Errorf("netlab: process %s on host %s still running after %s: %w", p.Name, p.Host.Name, timeout, os.ErrDeadlineExceeded)
	}
}

// Kill sends SIGKILL to the process group and waits for the process to exit,
// so that its ports are free when Kill returns. It returns nil whatever the
// exit status.
func (p *Process) Kill() error {
	return p.kill(killWait)
}

func (p *Process) kill(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if err := p.Wait(timeout); errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return nil
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr returns nil while the process runs or after it exited with status
// 0, and otherwise why it ended (an *exec.ExitError underneath).
func (p *Process) ExitErr() error {
	select {
	case <-p.exited:
		return p.err
	default:
		return nil
	}
}

// done reports whether the process has exited.
func (p *Process) done() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// LogPath returns the file holding the process's output.
func (p *Process) LogPath() string { return p.logPath }

// Tail returns the last n lines of the process's log, for failure messages;
// "" if there is no log. It reads at most the last 1 MiB.
func (p *Process) Tail(n int) string { return tailFile(p.logPath, n) }

// String returns "host/name (pid N)".
func (p *Process) String() string {
	return fmt.Sprintf("%s/%s (pid %d)", p.Host.Name, p.Name, p.Pid())
}

// tailMax bounds how much of a log Tail reads.
const tailMax = 1 << 20

// tailFile returns the last n lines of the file at path.
func tailFile(path string, n int) string {
	if n <= 0 {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > tailMax {
		if _, err := f.Seek(st.Size()-tailMax, io.SeekStart); err != nil {
			return ""
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	return lastLines(string(b), n)
}

// lastLines returns the last n lines of s, without a trailing newline.
func lastLines(s string, n int) string {
	if n <= 0 {
		return ""
	}
	s = strings.TrimRight(s, "\n")
	i := len(s)
	for ; n > 0 && i > 0; n-- {
		i = strings.LastIndexByte(s[:i], '\n')
		if i < 0 {
			return s
		}
	}
	if n > 0 {
		return s
	}
	return s[i+1:]
}
