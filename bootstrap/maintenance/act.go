package maintenance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// pollInterval is how often a member is asked whether it answers again, or
// whether leadership moved.
const pollInterval = 200 * time.Millisecond

// actor carries out a decision, member by member.
type actor struct {
	c   *clients
	log *slog.Logger
	now func() time.Time
	// defragTimeout bounds one member's defragmentation; healthTimeout the
	// wait for it, or for a new leader, afterwards.
	defragTimeout time.Duration
	healthTimeout time.Duration
}

// defragment defragments the steps' members one at a time, in order. Before
// each it checks that every voter still answers; it moves leadership away
// from a member that leads when its turn comes (the leader last, or one that
// became leader during the round); after each it waits until the member
// answers a linearizable read again. It returns what each member gave back.
func (a *actor) defragment(ctx context.Context, steps []Step, voters []MemberStatus) ([]MemberResult, error) {
	var done []MemberResult
	names := map[uint64]string{}
	for _, v := range voters {
		names[v.ID] = nameOf(v)
	}
	for _, s := range steps {
		for _, v := range voters {
			if err := a.c.read(ctx, v.Endpoint); err != nil {
				return done, fmt.Errorf("before defragmenting %s: voter %s no longer answers (%w); stopped, the next round starts again", s.Name, nameOf(v), err)
			}
		}
		st, err := a.c.status(ctx, s.Endpoint)
		if err != nil {
			return done, fmt.Errorf("before defragmenting %s: %w", s.Name, err)
		}
		r := MemberResult{Name: s.Name, ID: fmt.Sprintf("%x", s.ID), Before: st.DbSize, Started: a.now()}
		if st.Leader == s.ID {
			to := s.MoveTo
			if to == 0 || to == s.ID {
				to = otherVoter(voters, s.ID)
			}
			if to != 0 {
				if err := a.moveLeader(ctx, s, to); err != nil {
					return done, err
				}
				r.MovedLeaderTo = names[to]
			}
		}
		a.log.Info("defragmenting", "member", s.Name, "dbSize", st.DbSize, "free", st.DbSize-st.DbSizeInUse, "movedLeaderTo", r.MovedLeaderTo)
		if err := a.defragOne(ctx, s); err != nil {
			return done, err
		}
		if err := a.waitAnswers(ctx, s); err != nil {
			return done, err
		}
		after, err := a.c.status(ctx, s.Endpoint)
		if err != nil {
			return done, fmt.Errorf("after defragmenting %s: %w", s.Name, err)
		}
		r.After, r.Took = after.DbSize, a.now().Sub(r.Started)
		a.log.Info("defragmented", "member", s.Name, "before", r.Before, "after", r.After, "took", r.Took)
		done = append(done, r)
	}
	return done, nil
}

// otherVoter is a voter leadership may move to, 0 for none.
func otherVoter(voters []MemberStatus, not uint64) uint64 {
	for _, v := range voters {
		if v.ID != not && !v.Learner {
			return v.ID
		}
	}
	return 0
}

// moveLeader asks the leader s, on its own endpoint (only the leader takes
// MoveLeader), to hand leadership to member to, and waits until it did.
func (a *actor) moveLeader(ctx context.Context, s Step, to uint64) error {
	cli, err := a.c.to(s.Endpoint)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(ctx, a.healthTimeout)
	defer cancel()
	a.log.Info("moving leadership away before defragmenting", "member", s.Name, "to", fmt.Sprintf("%x", to))
	if _, err := cli.MoveLeader(mctx, to); err != nil {
		return fmt.Errorf("move leadership from %s to %x before defragmenting it: %w", s.Name, to, err)
	}
	for {
		st, err := cli.Status(mctx, s.Endpoint)
		if err == nil && st.Leader != 0 && st.Leader != s.ID {
			return nil
		}
		select {
		case <-mctx.Done():
			return fmt.Errorf("leadership did not move away from %s within %v: %w", s.Name, a.healthTimeout, mctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// defragOne defragments one member; the member blocks while it runs.
func (a *actor) defragOne(ctx context.Context, s Step) error {
	cli, err := a.c.to(s.Endpoint)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, a.defragTimeout)
	defer cancel()
	if _, err := cli.Defragment(dctx, s.Endpoint); err != nil {
		return fmt.Errorf("defragment %s: %w", s.Name, err)
	}
	return nil
}

// waitAnswers waits until s answers a linearizable read again.
func (a *actor) waitAnswers(ctx context.Context, s Step) error {
	deadline := a.now().Add(a.healthTimeout)
	for {
		err := a.c.read(ctx, s.Endpoint)
		if err == nil {
			return nil
		}
		if a.now().After(deadline) {
			return fmt.Errorf("%s does not answer %v after its defragmentation: %w; stopped before the next member", s.Name, a.healthTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// compact compacts the keyspace to current revision minus retention, and
// waits until every member applied it to its backend (physical), so that
// the defragmentation that follows finds the freed pages. It returns the
// revision compacted to, 0 when there was nothing to compact, and the
// current revision.
func (a *actor) compact(ctx context.Context, endpoint string, retention int64) (rev, current int64, err error) {
	cli, err := a.c.to(endpoint)
	if err != nil {
		return 0, 0, err
	}
	actx, cancel := context.WithTimeout(ctx, askTimeout)
	resp, err := cli.Get(actx, healthKey)
	cancel()
	if err != nil {
		return 0, 0, fmt.Errorf("current revision: %w", err)
	}
	current = resp.Header.Revision
	if rev = CompactRevision(current, retention); rev == 0 {
		return 0, current, nil
	}
	cctx, cancel := context.WithTimeout(ctx, a.defragTimeout)
	defer cancel()
	a.log.Info("compacting", "revision", rev, "current", resp.Header.Revision, "retention", retention)
	if _, err := cli.Compact(cctx, rev, clientv3.WithCompactPhysical()); err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return 0, current, nil // compacted beyond it already
		}
		return 0, current, fmt.Errorf("compact to revision %d: %w", rev, err)
	}
	return rev, current, nil
}

// disarm disarms every NOSPACE alarm, then checks that none is left.
func (a *actor) disarm(ctx context.Context, endpoint string, alarms []Alarm) error {
	cli, err := a.c.to(endpoint)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	for _, al := range alarms {
		if al.Type != AlarmNoSpace {
			continue
		}
		if _, err := cli.AlarmDisarm(actx, &clientv3.AlarmMember{MemberID: al.MemberID, Alarm: pb.AlarmType_NOSPACE}); err != nil {
			return fmt.Errorf("disarm NOSPACE of member %x: %w", al.MemberID, err)
		}
	}
	left, err := cli.AlarmList(actx)
	if err != nil {
		return fmt.Errorf("alarm list after disarming: %w", err)
	}
	for _, al := range left.Alarms {
		if al.Alarm == pb.AlarmType_NOSPACE {
			return fmt.Errorf("NOSPACE of member %x is raised again after disarming: a write already fills the quota", al.MemberID)
		}
	}
	a.log.Info("NOSPACE disarmed")
	return nil
}
