package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/etcdboot/etcdboot/bootstrap"
)

// StartLikeSystemd boots n the way its image's units do, with etcd.service
// starting etcdDelay late (a slow disk, a busy boot): etcdboot-agent.service
// runs `up` to its config step and ends (here with --crash-after config, as
// no systemctl runs in a lab host); etcd.service starts etcd from the env
// file `up` wrote, and its ExecStartPost runs `ready`, the health gate;
// etcdboot-watch.service runs `watch`, which systemd stops with etcd
// (Requires=etcd.service). The harness plays systemd: it records etcd's pid
// in the state dir as the unit's main PID (leave and KillWithEtcd find etcd
// there) and stops the watcher when etcd exits. It returns once `ready`
// succeeded; n.Agent is then the watcher.
func (n *Node) StartLikeSystemd(ctx context.Context, etcdDelay time.Duration) error {
	if err := n.StartAgent("--crash-after", string(bootstrap.StepConfig)); err != nil {
		return err
	}
	select {
	case <-n.Agent.Exited():
	case <-ctx.Done():
		return ctx.Err()
	}
	if st, err := n.Journal(); err != nil || !stepSince(st, bootstrap.StepConfig, n.started) {
		return fmt.Errorf("%s: up ended before its config step (journal: %v): %s", n.Name, err, n.agentTail())
	}
	t := time.NewTimer(etcdDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	env, err := bootstrap.ReadEnvFile(filepath.Join(n.Root, "etc/etcd/etcd.conf"))
	if err != nil {
		return err
	}
	etcd, err := n.Host.Start(fmt.Sprintf("etcd-service-%d", n.runs), []string{n.EtcdBinary()},
		append(env, "ETCD_LOG_OUTPUTS="+filepath.Join(n.StateDir(), "etcd.log")))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(n.StateDir(), "etcd.pid"), []byte(strconv.Itoa(etcd.Pid())+"\n"), 0o644); err != nil {
		_ = etcd.Kill()
		return err
	}
	bin := filepath.Join(n.c.Opts.Bin, "etcdboot-agent")
	common := []string{"--log-level", "info", "--payload", n.PayloadPath(), "--root", n.Root, "--state-dir", n.StateDir()}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	out, err := n.Host.Run(rctx, append([]string{bin, "ready", "--health-timeout", "150s"}, common...)...)
	cancel()
	if err != nil {
		_ = etcd.Kill()
		return fmt.Errorf("%s: etcdboot-agent ready: %w\n%s", n.Name, err, out)
	}
	watch, err := n.Host.Start(fmt.Sprintf("watch-%d", n.runs), append([]string{bin, "watch"}, common...), nil)
	if err != nil {
		_ = etcd.Kill()
		return err
	}
	n.Agent = watch
	go func() {
		// Requires=etcd.service: the watcher stops with etcd.
		select {
		case <-etcd.Exited():
			_ = watch.Signal(syscall.SIGTERM)
		case <-watch.Exited():
		}
	}()
	return nil
}

// RestartIfWatcherAsked plays etcdboot-watch.service's ExecStopPost for a
// node booted with StartLikeSystemd: when its watcher (n.Agent) exited with
// bootstrap.ExitRunBootStepsAgain, it stops etcd, as restarting
// etcdboot-agent.service does (etcd.service requires it), and boots the
// node again like systemd, etcd without delay. It reports whether it did.
func (n *Node) RestartIfWatcherAsked(ctx context.Context) (bool, error) {
	if n.Agent == nil {
		return false, nil
	}
	select {
	case <-n.Agent.Exited():
	default:
		return false, nil
	}
	var ee *exec.ExitError
	if !errors.As(n.Agent.ExitErr(), &ee) || ee.ExitCode() != bootstrap.ExitRunBootStepsAgain {
		return false, nil
	}
	if pid := n.etcdPid(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(30 * time.Second)
		for processAlive(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return true, n.StartLikeSystemd(ctx, 0)
}
