package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ReadEnvFile parses KEY=value lines (the etcd.conf environment file).
func ReadEnvFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read environment file: %w", err)
	}
	var env []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s:%d: want KEY=value, got %q", path, n, line)
		}
		env = append(env, k+"="+strings.Trim(v, `"`))
	}
	return env, sc.Err()
}

// childEnv is the parent's environment without any ETCD_ variable (etcd
// refuses a setting given twice), plus the settings of the env file.
func childEnv(settings []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return append(env, settings...)
}

// Supervisor runs etcd as a child process, for network namespaces and
// containers where systemd does not run it.
type Supervisor struct {
	Binary  string
	EnvFile string
	// StateDir holds etcd.pid and etcd.log.
	StateDir string
	// Ports are the TCP addresses etcd listens on; Start waits until they
	// are free, so a killed etcd has really gone.
	Ports []string

	cmd  *exec.Cmd
	done chan error
	log  *os.File
}

func (s *Supervisor) pidFile() string { return filepath.Join(s.StateDir, "etcd.pid") }

// LogPath is the file etcd's output goes to.
func (s *Supervisor) LogPath() string { return filepath.Join(s.StateDir, "etcd.log") }

// Start stops an etcd left running by an earlier agent run, waits for its
// ports to be free, then starts etcd with the env file's settings.
func (s *Supervisor) Start(ctx context.Context) error {
	if err := s.stopLeftover(ctx); err != nil {
		return err
	}
	if err := waitPortsFree(ctx, s.Ports, 30*time.Second); err != nil {
		return err
	}
	settings, err := ReadEnvFile(s.EnvFile)
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open etcd log: %w", err)
	}
	cmd := exec.Command(s.Binary)
	cmd.Env = childEnv(settings)
	cmd.Stdout, cmd.Stderr = logf, logf
	// etcd dies with the agent, as it would with the machine.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", s.Binary, err)
	}
	s.cmd, s.log, s.done = cmd, logf, make(chan error, 1)
	if err := writeFileAtomic(s.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		return err
	}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	return nil
}

// Done is closed with etcd's exit status when it exits.
func (s *Supervisor) Done() <-chan error { return s.done }

// Signal forwards sig to etcd.
func (s *Supervisor) Signal(sig os.Signal) error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("etcd is not running")
	}
	return s.cmd.Process.Signal(sig)
}

// Stop asks etcd to stop (SIGTERM), then kills it after grace.
func (s *Supervisor) Stop(grace time.Duration) error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		s.done <- <-s.done
	}
	_ = os.Remove(s.pidFile())
	return nil
}

// stopLeftover stops the etcd of an earlier run if its pid file names a live
// etcd process.
func (s *Supervisor) stopLeftover(ctx context.Context) error {
	data, err := os.ReadFile(s.pidFile())
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(filepath.Base(strings.SplitN(string(cmdline), "\x00", 2)[0]), "etcd") {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return nil
}

// waitPortsFree waits until nothing listens on addrs; a killed etcd can hold
// its ports for a moment.
func waitPortsFree(ctx context.Context, addrs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, addr := range addrs {
		for {
			l, err := net.Listen("tcp", addr)
			if err == nil {
				l.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("port %s is still in use after %v: another etcd runs on it; stop it", addr, timeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// StartSystemd asks systemd to start unit without waiting for it: the unit is
// ordered after the agent, so a blocking start would wait for the agent itself.
func StartSystemd(ctx context.Context, unit string) error {
	out, err := exec.CommandContext(ctx, "systemctl", "start", "--no-block", unit).CombinedOutput()
	if err != nil {
		return fmt.Errorf("systemctl start %s: %w: %s", unit, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// start is the start step: under systemd it starts the unit; in exec mode
// it starts etcd as a supervised child and returns its supervisor.
func (a *Agent) start(ctx context.Context, n node) (*Supervisor, error) {
	if !a.cfg.Exec {
		return nil, StartSystemd(ctx, a.cfg.Unit)
	}
	var ports []string
	for _, ip := range n.addrs {
		ports = append(ports, net.JoinHostPort(ip.String(), strconv.Itoa(n.payload.Etcd.PeerPort)),
			net.JoinHostPort(ip.String(), strconv.Itoa(n.payload.Etcd.ClientPort)))
	}
	sup := &Supervisor{Binary: a.cfg.EtcdBinary, EnvFile: a.EnvFilePath(), StateDir: a.cfg.StateDir, Ports: ports}
	return sup, sup.Start(ctx)
}
