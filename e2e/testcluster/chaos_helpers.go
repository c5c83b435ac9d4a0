package testcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
)

// KillWithEtcd kills the node's etcd and its agent with SIGKILL at the same
// moment, as a power loss does, and waits until both are gone. Kill alone
// leaves etcd to die of its parent-death signal a moment after the agent.
func (n *Node) KillWithEtcd() error {
	pid := n.etcdPid()
	if pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	err := n.Kill()
	if pid > 0 {
		deadline := time.Now().Add(15 * time.Second)
		for processAlive(pid) {
			if time.Now().After(deadline) {
				return errors.Join(err, fmt.Errorf("etcd of %s (pid %d) still running 15s after SIGKILL", n.Name, pid))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return err
}

// etcdPid is the pid in the node's etcd.pid when it names a running
// process of the node's etcd binary, else 0: a stale pid file must not make
// KillWithEtcd kill an unrelated process that took the number.
func (n *Node) etcdPid() int {
	data, err := os.ReadFile(filepath.Join(n.StateDir(), "etcd.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return 0
	}
	if bin, err := filepath.EvalSymlinks(n.EtcdBinary()); err != nil || filepath.Clean(exe) != bin {
		return 0
	}
	return pid
}

// processAlive reports whether pid runs and is not a zombie waiting to be
// reaped.
func processAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// Healthy reports whether the node's current agent run has journaled the
// healthy step, without waiting.
func (n *Node) Healthy() bool {
	st, err := n.Journal()
	return err == nil && stepSince(st, bootstrap.StepHealthy, n.started)
}

// Running reports whether the node's agent process runs.
func (n *Node) Running() bool {
	if n.Agent == nil {
		return false
	}
	select {
	case <-n.Agent.Exited():
		return false
	default:
		return true
	}
}
