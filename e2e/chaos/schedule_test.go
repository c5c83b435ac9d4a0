package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Kind is a kind of fault.
type Kind string

// The faults a schedule draws from.
const (
	// KillRestart SIGKILLs a member's agent and etcd, then restarts the
	// agent with the member's disk after Down.
	KillRestart Kind = "kill-restart"
	// KillLeader is KillRestart aimed at the leader of the moment.
	KillLeader Kind = "kill-leader"
	// Replace kills a member and wipes its disk; a new instance on a new
	// address replaces it.
	Replace Kind = "replace"
	// Partition cuts a member off from every other member with nftables
	// for Down, then heals; clients still reach it.
	Partition Kind = "partition"
	// PartitionLeader is Partition aimed at the leader of the moment.
	PartitionLeader Kind = "partition-leader"
	// PartitionJoiner is Replace whose new instance is cut off from the
	// others while it joins (before or after its learner is added).
	PartitionJoiner Kind = "partition-joiner"
	// TwoJoiners kills and wipes a minority of members and starts two new
	// instances at the same moment; a group of 3 then has one surplus
	// member, and a member leaves to bring it back to its size.
	TwoJoiners Kind = "two-joiners"
	// SlowJoin kills and wipes a member; its replacement boots the
	// systemd way, its etcd.service starting Down late (longer than the
	// join lock's lease), so that its learner sits unstarted while others
	// look at the membership.
	SlowJoin Kind = "slow-join"
	// LeaveAdd runs `etcdboot-agent leave` on a member, then adds one back:
	// the same instance with its disk (a rejoin) or a new instance.
	LeaveAdd Kind = "leave-add"
)

// Kinds lists every kind, in the order figures print them.
var Kinds = []Kind{KillRestart, KillLeader, Replace, Partition, PartitionLeader, PartitionJoiner, SlowJoin, TwoJoiners, LeaveAdd}

// Fault is one fault of a schedule. Which member it hits is decided when it
// runs (the leader of that moment, or Pick into the members not hit by
// another fault of the step), so the same seed replays the same faults
// against whatever members the group has by then.
type Fault struct {
	Kind Kind
	// Pick chooses the member: Pick modulo the candidates, by address.
	Pick int
	// Down is how long a member stays killed or cut off.
	Down time.Duration
	// Rejoin: LeaveAdd brings the same instance back with its disk, not a
	// new instance.
	Rejoin bool
	// Early: PartitionJoiner cuts the joiner off Down after it starts,
	// before it is a learner; otherwise once its learner is added.
	Early bool
}

// Step is faults started together, then a settle: the group must be back
// to its size, healthy, before the next step.
type Step struct {
	// Gap is the pause before the step.
	Gap    time.Duration
	Faults []Fault
}

// Schedule is what a seed draws for a group of Size members.
type Schedule struct {
	Seed  uint64
	Size  int
	Steps []Step
}

// impact is how many of the group's voters a fault takes away at worst: a
// schedule never has more than a minority, (size-1)/2, away at once.
func (f Fault) impact(size int) int {
	switch f.Kind {
	case TwoJoiners:
		return twoJoinersVictims(size)
	default:
		// LeaveAdd too: after the leave the group has one voter less.
		return 1
	}
}

// twoJoinersVictims is how many members TwoJoiners kills: two where the
// group tolerates it, so both joiners replace one each, else one.
func twoJoinersVictims(size int) int {
	return min(2, (size-1)/2)
}

// estimate is a fault's expected duration, to size a schedule (measured
// on a group of 3 on two cores: a join takes 5 to 13 s).
func (f Fault) estimate() time.Duration {
	switch f.Kind {
	case KillRestart, KillLeader:
		return 3*time.Second + f.Down
	case Partition, PartitionLeader:
		return 2*time.Second + f.Down
	case Replace:
		return 8 * time.Second
	case PartitionJoiner, SlowJoin:
		return 8*time.Second + f.Down
	case TwoJoiners:
		return 22 * time.Second
	default: // LeaveAdd
		return 12 * time.Second
	}
}

// weights are how often each kind is drawn.
var weights = map[Kind]int{
	KillRestart: 3, KillLeader: 2, Replace: 2, Partition: 2, PartitionLeader: 2,
	PartitionJoiner: 2, SlowJoin: 2, TwoJoiners: 1, LeaveAdd: 2,
}

// combinable kinds may share a step with another fault in a group that
// tolerates two members away. A leave is refused while another member is
// down, and two joiners already take two.
var combinable = map[Kind]bool{
	KillRestart: true, KillLeader: true, Replace: true, Partition: true,
	PartitionLeader: true, PartitionJoiner: true, SlowJoin: true,
}

// NewSchedule draws a schedule for a group of size from seed, with steps
// until their estimated durations fill length. It is pure: a seed always
// draws the same schedule.
func NewSchedule(seed uint64, size int, length time.Duration) Schedule {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	s := Schedule{Seed: seed, Size: size}
	var total time.Duration
	for total < length {
		st := Step{Gap: time.Duration(r.IntN(3000)) * time.Millisecond}
		first := drawFault(r)
		st.Faults = append(st.Faults, first)
		budget := (size-1)/2 - first.impact(size)
		if budget > 0 && combinable[first.Kind] && r.IntN(100) < 40 {
			for {
				second := drawFault(r)
				if combinable[second.Kind] {
					st.Faults = append(st.Faults, second)
					break
				}
			}
		}
		var longest time.Duration
		for _, f := range st.Faults {
			longest = max(longest, f.estimate())
		}
		total += st.Gap + longest
		s.Steps = append(s.Steps, st)
	}
	return s
}

func drawFault(r *rand.Rand) Fault {
	sum := 0
	for _, k := range Kinds {
		sum += weights[k]
	}
	n := r.IntN(sum)
	var kind Kind
	for _, k := range Kinds {
		if n < weights[k] {
			kind = k
			break
		}
		n -= weights[k]
	}
	f := Fault{Kind: kind, Pick: r.IntN(10)}
	switch kind {
	case KillRestart, KillLeader:
		f.Down = time.Duration(500+r.IntN(5500)) * time.Millisecond
	case Partition, PartitionLeader:
		f.Down = time.Duration(3000+r.IntN(7000)) * time.Millisecond
	case PartitionJoiner:
		f.Down = time.Duration(3000+r.IntN(5000)) * time.Millisecond
		f.Early = r.IntN(3) == 0
	case SlowJoin:
		f.Down = time.Duration(11000+r.IntN(9000)) * time.Millisecond
	case LeaveAdd:
		f.Rejoin = r.IntN(2) == 0
	}
	return f
}

// String is the schedule, one step a line, as the failure report prints it.
func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, group of %d, %d steps (member #n: the live members by address, n modulo their count):\n", s.Seed, s.Size, len(s.Steps))
	for i, st := range s.Steps {
		var fs []string
		for _, f := range st.Faults {
			fs = append(fs, f.String())
		}
		fmt.Fprintf(&b, "  %2d. after %v: %s\n", i+1, st.Gap.Round(time.Millisecond), strings.Join(fs, " + "))
	}
	return b.String()
}

// String describes one fault.
func (f Fault) String() string {
	switch f.Kind {
	case KillRestart:
		return fmt.Sprintf("kill member #%d, restart after %v", f.Pick, f.Down.Round(time.Millisecond))
	case KillLeader:
		return fmt.Sprintf("kill the leader, restart after %v", f.Down.Round(time.Millisecond))
	case Partition:
		return fmt.Sprintf("partition member #%d for %v", f.Pick, f.Down.Round(time.Millisecond))
	case PartitionLeader:
		return fmt.Sprintf("partition the leader for %v", f.Down.Round(time.Millisecond))
	case Replace:
		return fmt.Sprintf("kill and wipe member #%d, replacement on a new address", f.Pick)
	case PartitionJoiner:
		when := "once it is a learner"
		if f.Early {
			when = "as it starts"
		}
		return fmt.Sprintf("kill and wipe member #%d, its replacement partitioned %s for %v", f.Pick, when, f.Down.Round(time.Millisecond))
	case SlowJoin:
		return fmt.Sprintf("kill and wipe member #%d, its replacement boots the systemd way with etcd.service %v late", f.Pick, f.Down.Round(time.Millisecond))
	case TwoJoiners:
		return fmt.Sprintf("kill and wipe members from #%d, two joiners at once", f.Pick)
	case LeaveAdd:
		back := "a new instance"
		if f.Rejoin {
			back = "the same instance with its disk"
		}
		return fmt.Sprintf("member #%d leaves, %s added back", f.Pick, back)
	}
	return string(f.Kind)
}
