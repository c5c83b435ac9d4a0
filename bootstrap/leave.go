package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/discovery"
)

// ErrQuorumAtRisk means removing a member now could lose quorum.
var ErrQuorumAtRisk = errors.New("removing this member could lose quorum")

// QuorumAfterRemoval reports whether a cluster of voters, of which healthy
// answer, keeps quorum when one healthy voter leaves; it also refuses while
// any other voter is unhealthy, since that member's recovery may need the
// one that is leaving. It is pure, for the plan and for tests.
func QuorumAfterRemoval(voters, healthy int) error {
	switch {
	case voters <= 1:
		return fmt.Errorf("%w: it is the last voting member; restore or add members first", ErrQuorumAtRisk)
	case healthy < voters:
		return fmt.Errorf("%w: %d of %d voting members are unhealthy; heal them before removing another", ErrQuorumAtRisk, voters-healthy, voters)
	case healthy-1 < (voters-1)/2+1:
		return fmt.Errorf("%w: %d healthy voters would remain of %d", ErrQuorumAtRisk, healthy-1, voters-1)
	}
	return nil
}

// Leave removes this member from its cluster gracefully: only when quorum
// survives, leadership moved away first; then it deregisters from DNS and
// stops etcd. Run by the unit on shutdown or by a lifecycle hook.
func (a *Agent) Leave(ctx context.Context) error {
	n, err := a.loadPayload(ctx, false)
	if err != nil {
		return fmt.Errorf("%s: %w", StepPayload, err)
	}
	tlsConf, err := a.tlsFiles(n).ClientConfig()
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.clientURL()}, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: nopZap()})
	if err != nil {
		return fmt.Errorf("connect to this member: %w", err)
	}
	defer cli.Close()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ml, err := cli.MemberList(lctx)
	if err != nil {
		return fmt.Errorf("member list: %w; is this member running?", err)
	}
	self := n.findSelf(ml.Members)
	if self == nil {
		a.log.Warn("this member is not in the cluster any more", "member", n.name())
		return a.afterLeave(ctx, n)
	}
	voters, healthy := 0, 0
	var leaderID uint64
	var target *etcdserverpb.Member
	for _, m := range ml.Members {
		if m.IsLearner {
			continue
		}
		voters++
		if len(m.ClientURLs) == 0 {
			continue
		}
		sctx, scancel := context.WithTimeout(lctx, 3*time.Second)
		st, err := cli.Status(sctx, m.ClientURLs[0])
		scancel()
		if err != nil {
			a.log.Warn("member unhealthy", "member", m.Name, "err", err)
			continue
		}
		healthy++
		leaderID = st.Leader
		if m.ID != self.ID && target == nil {
			target = m
		}
	}
	if !self.IsLearner {
		if err := QuorumAfterRemoval(voters, healthy); err != nil {
			return err
		}
	}
	if leaderID == self.ID && target != nil {
		a.log.Info("moving leadership away", "to", target.Name)
		if _, err := cli.MoveLeader(lctx, target.ID); err != nil {
			return fmt.Errorf("move leadership to %s: %w", target.Name, err)
		}
	}
	// Remove through another member: this one may stop answering mid-call.
	if target != nil && len(target.ClientURLs) > 0 {
		cli.SetEndpoints(target.ClientURLs...)
	}
	// Marked before the removal: etcd exits as soon as it learns it was
	// removed, and its supervising `up --exec`, which reruns the boot steps
	// for a member the group removed, must find that it left instead.
	if err := a.markLeft(true); err != nil {
		return err
	}
	if err := removeMember(lctx, cli, self.ID); err != nil {
		return errors.Join(fmt.Errorf("remove member %s (%x): %w", self.Name, self.ID, err), a.markLeft(false))
	}
	a.log.Info("member removed", "member", self.Name, "id", fmt.Sprintf("%x", self.ID))
	return a.afterLeave(ctx, n)
}

// markLeft records in the journal whether this member left its cluster.
func (a *Agent) markLeft(left bool) error {
	a.journal.State.Left = left
	if err := a.journal.Save(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// afterLeave deregisters from DNS and stops etcd.
func (a *Agent) afterLeave(ctx context.Context, n node) error {
	if d := n.payload.Discovery.DNS; d != nil && d.Register && d.UpdateKey != nil {
		err := discovery.Deregister(ctx, d.Server, *d.UpdateKey, d.Domain, n.selfTarget(),
			uint16(n.payload.Etcd.PeerPort), uint16(n.payload.Etcd.ClientPort))
		if err != nil {
			return fmt.Errorf("deregister from DNS: %w", err)
		}
	}
	a.journal.State.Plan = nil
	a.journal.State.MemberID = 0
	a.journal.State.Left = true
	if err := a.journal.Save(); err != nil {
		return err
	}
	return a.stopEtcd(ctx)
}

// stopEtcd stops the local etcd: through systemd, or by signalling the
// process the supervisor recorded (its supervising agent then exits).
func (a *Agent) stopEtcd(ctx context.Context) error {
	if !a.cfg.Exec {
		out, err := exec.CommandContext(ctx, "systemctl", "stop", a.cfg.Unit).CombinedOutput()
		if err != nil {
			return fmt.Errorf("systemctl stop %s: %w: %s", a.cfg.Unit, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	data, err := os.ReadFile(filepath.Join(a.cfg.StateDir, "etcd.pid"))
	if err != nil {
		return nil // not running
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 150 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}
