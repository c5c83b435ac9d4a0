package maintenance

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/internal/render"
	"github.com/etcdboot/etcdboot/spec"
)

// AlarmNoSpace is etcd's alarm for a backend over its quota; a round heals
// it. Any other alarm (CORRUPT) stops maintenance until an operator clears
// it.
const AlarmNoSpace = "NOSPACE"

// Kinds of round.
const (
	// KindDefrag defragments the members over the fragmentation threshold.
	KindDefrag = "defrag"
	// KindHeal heals a NOSPACE alarm: compact, defragment all, disarm.
	KindHeal = "heal"
)

// MemberStatus is what one member answered.
type MemberStatus struct {
	ID   uint64
	Name string
	// Endpoint is the client URL it was asked on; empty for a member that
	// has not started.
	Endpoint string
	Learner  bool
	// Healthy is true when it answered its status and a linearizable read;
	// Error says why not.
	Healthy bool
	Error   string
	// DBSize is its database file's size; DBSizeInUse the part that holds
	// data. The rest is free pages only defragmentation gives back.
	DBSize      int64
	DBSizeInUse int64
}

// Free is the space defragmentation would give back.
func (m MemberStatus) Free() int64 { return max(m.DBSize-m.DBSizeInUse, 0) }

// Alarm is one alarm etcd holds, e.g. NOSPACE raised by one member.
type Alarm struct {
	MemberID uint64
	Type     string
}

// Observed is the cluster as a round found it.
type Observed struct {
	Members []MemberStatus
	// Leader is the leader's ID; 0 when no member knows one.
	Leader uint64
	Alarms []Alarm
	// Now is when the round looked, for the window.
	Now time.Time
}

// Policy is the payload's maintenance section, applied.
type Policy struct {
	// FreeRatio and MinFreeBytes are the fragmentation threshold: a member
	// is defragmented when both are reached.
	FreeRatio    float64
	MinFreeBytes int64
	// Window limits scheduled rounds to a daily span; nil is any time.
	Window *spec.MaintenanceWindow
	// IgnoreWindow is set for a round run by hand (defrag --now).
	IgnoreWindow bool
}

// PolicyOf is the policy of a maintenance section with defaults applied.
func PolicyOf(m spec.Maintenance) Policy {
	return Policy{FreeRatio: float64(m.Fragmentation.FreeRatio), MinFreeBytes: int64(m.Fragmentation.MinFreeBytes), Window: m.Window}
}

// Step is one member to defragment.
type Step struct {
	ID       uint64
	Name     string
	Endpoint string
	// Leader is true for the leader: leadership moves to MoveTo first.
	Leader bool
	MoveTo uint64
	// Free is what the member had free when the round looked.
	Free int64
}

// Decision is what a round does: skip (Reason says why), or Kind with the
// Steps in order.
type Decision struct {
	Skip   bool
	Kind   string
	Reason string
	Steps  []Step
}

// Decide says what a round does with what it observed. It is pure: the
// same input, the same decision. It skips while a voter is unhealthy, an
// alarm other than NOSPACE is raised, a learner waits for its promotion or
// there is no leader; with NOSPACE raised it heals (every member, whatever
// the window and threshold); otherwise, inside the window, it defragments
// the members over the threshold, followers one at a time and the leader
// last, leadership moving to a follower already done.
func Decide(o Observed, p Policy) Decision {
	skip := func(format string, args ...any) Decision {
		return Decision{Skip: true, Reason: fmt.Sprintf(format, args...)}
	}
	if len(o.Members) == 0 {
		return skip("no member answered")
	}
	names := map[uint64]string{}
	for _, m := range o.Members {
		names[m.ID] = nameOf(m)
	}
	noSpace := false
	for _, a := range o.Alarms {
		if a.Type != AlarmNoSpace {
			who := names[a.MemberID]
			if who == "" {
				who = fmt.Sprintf("%x", a.MemberID)
			}
			return skip("alarm %s is raised on %s; maintenance waits until it is resolved (etcdctl alarm list)", a.Type, who)
		}
		noSpace = true
	}
	for _, m := range o.Members {
		if m.Learner {
			return skip("%s is a learner waiting for its promotion; a join is under way", nameOf(m))
		}
	}
	for _, m := range o.Members {
		if !m.Healthy {
			why := m.Error
			if why == "" {
				why = "it did not answer"
			}
			return skip("voter %s is not healthy (%s); blocking another member could cost quorum", nameOf(m), why)
		}
	}
	if o.Leader == 0 || names[o.Leader] == "" {
		return skip("the cluster has no leader")
	}
	if noSpace {
		var noSpaceOn []string
		for _, a := range o.Alarms {
			noSpaceOn = append(noSpaceOn, names[a.MemberID])
		}
		return Decision{Kind: KindHeal, Steps: order(o.Members, o.Leader),
			Reason: fmt.Sprintf("NOSPACE is raised (by %s): compact, defragment every member, disarm", strings.Join(noSpaceOn, ", "))}
	}
	if !p.IgnoreWindow && !p.Window.InWindow(o.Now) {
		return skip("outside the maintenance window (%s UTC for %v)", p.Window.Start, p.Window.Duration.Std())
	}
	var over []MemberStatus
	for _, m := range o.Members {
		if overThreshold(m, p) {
			over = append(over, m)
		}
	}
	if len(over) == 0 {
		worst := slices.MaxFunc(o.Members, func(a, b MemberStatus) int { return cmp.Compare(a.Free(), b.Free()) })
		return skip("no member is over the threshold (%s free and %s): the most is %s on %s, %s of its %s",
			spec.Ratio(p.FreeRatio), render.Bytes(p.MinFreeBytes), render.Bytes(worst.Free()), nameOf(worst),
			spec.Ratio(share(worst)), render.Bytes(worst.DBSize))
	}
	steps := order(over, o.Leader)
	if last := &steps[len(steps)-1]; last.Leader && len(steps) == 1 {
		// Only the leader is fragmented: leadership moves to any follower.
		last.MoveTo = firstFollower(o.Members, o.Leader)
	}
	var list []string
	for _, s := range steps {
		list = append(list, s.Name)
	}
	return Decision{Kind: KindDefrag, Steps: steps,
		Reason: fmt.Sprintf("over the threshold (%s free and %s): %s", spec.Ratio(p.FreeRatio), render.Bytes(p.MinFreeBytes), strings.Join(list, ", "))}
}

// overThreshold reports whether m has both the share and the bytes free.
func overThreshold(m MemberStatus, p Policy) bool {
	return m.DBSize > 0 && m.Free() >= p.MinFreeBytes && share(m) >= p.FreeRatio
}

func share(m MemberStatus) float64 {
	if m.DBSize <= 0 {
		return 0
	}
	return float64(m.Free()) / float64(m.DBSize)
}

// order puts members in the order a round defragments them: followers by
// name, then the leader, whose leadership moves to the last follower done.
func order(members []MemberStatus, leader uint64) []Step {
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b MemberStatus) int {
		if (a.ID == leader) != (b.ID == leader) {
			if a.ID == leader {
				return 1
			}
			return -1
		}
		return cmp.Or(strings.Compare(nameOf(a), nameOf(b)), cmp.Compare(a.ID, b.ID))
	})
	steps := make([]Step, len(sorted))
	for i, m := range sorted {
		steps[i] = Step{ID: m.ID, Name: nameOf(m), Endpoint: m.Endpoint, Free: m.Free(), Leader: m.ID == leader}
		if m.ID == leader && i > 0 {
			steps[i].MoveTo = sorted[i-1].ID
		}
	}
	return steps
}

// firstFollower is the follower leadership moves to when no follower was
// defragmented in the round; 0 for a single-member cluster.
func firstFollower(members []MemberStatus, leader uint64) uint64 {
	var best *MemberStatus
	for i, m := range members {
		if m.ID != leader && (best == nil || nameOf(m) < nameOf(*best)) {
			best = &members[i]
		}
	}
	if best == nil {
		return 0
	}
	return best.ID
}

func nameOf(m MemberStatus) string {
	if m.Name != "" {
		return m.Name
	}
	return fmt.Sprintf("%x", m.ID)
}

// Healer is the member whose agent heals a NOSPACE alarm when the
// cluster-wide lock cannot be taken (etcd refuses the lease and the put a
// lock needs while NOSPACE stands): the healthy voter with the lowest ID, a
// choice every agent makes alike without writing. 0 when there is none.
func Healer(o Observed) uint64 {
	var id uint64
	for _, m := range o.Members {
		if m.Healthy && !m.Learner && (id == 0 || m.ID < id) {
			id = m.ID
		}
	}
	return id
}

// CompactRevision is the revision a heal compacts to: current minus
// retention, or 0 when that keeps every revision there is.
func CompactRevision(current, retention int64) int64 {
	return max(current-retention, 0)
}

// CanDisarm reports whether every member's database is at most (1 - margin)
// of the quota, so NOSPACE will not be raised again at the next write; when
// not, the reason names the largest.
func CanDisarm(members []MemberStatus, quota int64, margin float64) (bool, string) {
	limit := int64(float64(quota) * (1 - margin))
	for _, m := range members {
		if m.DBSize > limit {
			return false, fmt.Sprintf("the database of %s is %s after compaction and defragmentation, more than %s (the quota %s less %s): the data itself fills the quota; delete keys or raise etcd.quotaBackendBytes, then etcdctl alarm disarm",
				nameOf(m), render.Bytes(m.DBSize), render.Bytes(limit), render.Bytes(quota), spec.Ratio(margin))
		}
	}
	return true, ""
}
