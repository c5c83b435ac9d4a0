package upgrade

import (
	"fmt"
	"slices"
	"strings"
)

// Zombie35 is the first 3.5 release from which upgrading to 3.6 is safe:
// older 3.5 members may carry members removed long ago in their v2 store,
// which a 3.6 member then brings back as zombies (etcd blog, "zombie
// members upgrade").
var Zombie35 = Version{3, 5, 26}

// Member is what the cluster reports of one member.
type Member struct {
	Name   string
	Server Version // its etcd's version (Maintenance Status); zero if it did not answer
	// Storage is its backend's storage version (etcd 3.6+ reports it).
	Storage Version
	Learner bool
	Healthy bool
}

// Cluster is what the running cluster reports, when some member answers.
type Cluster struct {
	// Version is the cluster version (the lowest minor all members run).
	Version Version
	Members []Member
	// Downgrade is the target of an enabled downgrade (etcd's downgrade
	// enable); zero when none is enabled.
	Downgrade Version
	// Alarms lists raised alarms (NOSPACE, CORRUPT).
	Alarms []string
	// Leader is the leader's name; empty when no member named one.
	Leader string
}

// Observed is everything Decide needs.
type Observed struct {
	// Binary is the version of the etcd binary the image carries.
	Binary Version
	// Payload is the node payload's etcd.version; zero when unset.
	Payload Version
	// Data is the storage version of the member's data dir (what wrote it);
	// zero when the data dir is empty: a new member.
	Data Version
	// Storage is the storage version a running member reports now (3.6+),
	// when it differs from Data: right after the cluster version rises,
	// etcd raises the storage version a few seconds later, and a newer
	// binary cannot open the data before it has. Zero when not running.
	Storage Version
	// LastRun is the etcd version the agent last started on this node, from
	// its journal; zero when unknown.
	LastRun Version
	// Cluster is nil when no member answered.
	Cluster *Cluster
	// Self is this member's name, left out of the health gate.
	Self string
	// SelfRunning is true when this member's etcd still runs (it answers on
	// its client URL): an upgrade takes it down, so it waits for the gate.
	// When it is already down (a reboot or reimage onto a new image), the
	// gate is not applied: starting it can only restore availability, and
	// two members rebooted at once that each waited for the other to be
	// healthy would wait forever. The cluster-wide lock still orders them.
	SelfRunning bool
	// V2Entries counts the v2-format entries the member's WAL replays on
	// its next start (see V2Entries); etcd 3.7 cannot apply them.
	V2Entries int
	// V3Discovery is true when the payload discovers peers through an etcd
	// v3 discovery service, which etcd 3.5 does not have.
	V3Discovery bool
}

// Action is what the member does.
type Action string

const (
	// ActionStart starts etcd now: nothing changes version, or there is no
	// running cluster whose availability an upgrade could cost.
	ActionStart Action = "start"
	// ActionUpgrade starts a newer (or an enabled older) etcd over this
	// member's data: under the cluster-wide lock, leadership moved away
	// first, released after the health gate.
	ActionUpgrade Action = "upgrade"
	// ActionWait holds the upgrade until the gate passes: every voter
	// healthy, no alarm, no learner pending.
	ActionWait Action = "wait"
	// ActionRefuse leaves etcd stopped and the data dir untouched.
	ActionRefuse Action = "refuse"
)

// Decision is Decide's answer.
type Decision struct {
	Action Action
	// Reason says why, naming the versions and, on refusal, the supported path.
	Reason string
	// Warnings are said once, e.g. a payload version the image does not carry.
	Warnings []string
}

// Decide applies etcd's upgrade rules to what was observed. It is pure.
func Decide(o Observed) Decision {
	var d Decision
	if o.Binary.IsZero() {
		return Decision{Action: ActionRefuse, Reason: "the etcd binary's version is unknown; check that etcd --version runs on this image"}
	}
	if !o.Payload.IsZero() && o.Payload != o.Binary {
		d.Warnings = append(d.Warnings, fmt.Sprintf("the payload names etcd %s but the image carries %s: %s is what runs; build the image with the payload's version, or regenerate the payload for the image's", o.Payload, o.Binary, o.Binary))
	}
	if why := refusal(o); why != "" {
		d.Action, d.Reason = ActionRefuse, why
		return d
	}
	if o.Data.IsZero() {
		d.Action, d.Reason = ActionStart, fmt.Sprintf("a new member on etcd %s", o.Binary)
		return d
	}
	changes := o.Binary.minorsAbove(o.Data) != 0 || (!o.LastRun.IsZero() && o.LastRun != o.Binary)
	if !changes {
		d.Action, d.Reason = ActionStart, fmt.Sprintf("etcd %s over its own data (storage %s)", o.Binary, o.Data.MinorString())
		return d
	}
	from := o.Data.MinorString()
	if !o.LastRun.IsZero() {
		from = o.LastRun.String()
	}
	if o.Cluster == nil {
		d.Action, d.Reason = ActionStart, fmt.Sprintf("etcd %s -> %s with no member answering: no availability to keep, start", from, o.Binary)
		return d
	}
	if !o.SelfRunning {
		d.Action, d.Reason = ActionUpgrade, fmt.Sprintf("etcd %s -> %s; this member's etcd is already down, so starting it cannot cost availability: no gate, one member at a time under the lock", from, o.Binary)
		return d
	}
	if why := gateClosed(o); why != "" {
		d.Action, d.Reason = ActionWait, fmt.Sprintf("etcd %s -> %s waits: %s", from, o.Binary, why)
		return d
	}
	d.Action, d.Reason = ActionUpgrade, fmt.Sprintf("etcd %s -> %s, one member at a time", from, o.Binary)
	return d
}

// refusal returns why the binary must not start, or "".
func refusal(o Observed) string {
	b := o.Binary
	if b.Major != 3 {
		return fmt.Sprintf("etcd %s: etcdboot runs etcd 3 only", b)
	}
	if o.V3Discovery && b.Minor < 6 {
		return fmt.Sprintf("the payload discovers peers through etcd v3 discovery, which etcd %s does not have (it would form a one-member cluster of its own): use static or DNS discovery for 3.5, or an image with etcd 3.6 or later", b)
	}
	// Against what wrote the data dir.
	if !o.Data.IsZero() {
		switch ahead := b.minorsAbove(o.Data); {
		case ahead > 1:
			return fmt.Sprintf("the data dir was written by etcd %s and etcd %s would skip %d minor version(s); upgrade one minor at a time: roll an image with etcd %d.%d first, then %s",
				o.Data.MinorString(), b, ahead-1, b.Major, o.Data.Minor+1, b.MinorString())
		case ahead < 0 && !downgradeEnabledTo(o.Cluster, b):
			return fmt.Sprintf("the data dir was written by etcd %s and the image carries the older %s: a downgrade needs etcd's downgrade procedure first (etcdboot upgrade downgrade --to %s, or etcdctl downgrade validate/enable %s), then restart the members one by one",
				o.Data.MinorString(), b, b.MinorString(), b.MinorString())
		case ahead == 1 && o.Data.Minor == 5 && !o.LastRun.IsZero() && o.LastRun.Compare(Zombie35) < 0:
			return fmt.Sprintf("this member last ran etcd %s; 3.5 to 3.6 is safe only from %s on: roll an image with etcd 3.5.26 or later first, then %s", o.LastRun, Zombie35, b)
		}
	}
	if o.V2Entries > 0 && b.Minor >= 7 {
		return fmt.Sprintf("this member's WAL still replays %d entries in etcd 3.5's v2 format, which etcd %s cannot apply (it panics on start); etcd 3.6 drops them from the replay at the member's next raft snapshot, every etcd.snapshotCount applied entries (10000 by default): keep the member on 3.6 until it took one (writes bring it), then roll %s again",
			o.V2Entries, b, b.MinorString())
	}
	if o.Cluster == nil {
		return ""
	}
	// Against the running cluster.
	c := o.Cluster
	if !c.Version.IsZero() {
		switch ahead := b.minorsAbove(c.Version); {
		case ahead > 1:
			return fmt.Sprintf("the cluster runs etcd %s and this member's etcd %s is %d minor versions ahead; mixed versions may differ by one minor only: roll the cluster to %d.%d first",
				c.Version.MinorString(), b, ahead, b.Major, b.Minor-1)
		case ahead < 0 && !downgradeEnabledTo(c, b):
			return fmt.Sprintf("the cluster runs etcd %s and this member's etcd %s is older: a downgrade needs etcd's downgrade procedure first (etcdboot upgrade downgrade --to %s)",
				c.Version.MinorString(), b, b.MinorString())
		}
	}
	for _, m := range c.Members {
		if m.Server.IsZero() || m.Name == o.Self {
			continue
		}
		if d := b.minorsAbove(m.Server); d > 1 || d < -1 {
			return fmt.Sprintf("member %s runs etcd %s and this member's %s is %d minor versions away; mixed versions may differ by one minor only", m.Name, m.Server, b, abs(d))
		}
		if b.Minor == 6 && m.Server.Minor == 5 && m.Server.Compare(Zombie35) < 0 {
			return fmt.Sprintf("member %s runs etcd %s; this member's etcd %s may join or upgrade only when every 3.5 member runs %s or later: roll those first", m.Name, m.Server, b, Zombie35)
		}
	}
	return ""
}

// gateClosed returns why an upgrade must wait, or "".
func gateClosed(o Observed) string {
	c := o.Cluster
	if len(c.Alarms) > 0 {
		return "alarm " + strings.Join(c.Alarms, ", ") + " is raised"
	}
	if !o.Downgrading() && !o.Storage.IsZero() && o.Storage.Compare(o.Data) < 0 {
		return fmt.Sprintf("etcd has not yet raised this member's storage version %s to the cluster's %s", o.Storage.MinorString(), o.Data.MinorString())
	}
	if downgradeEnabledTo(c, o.Binary) && o.Data.minorsAbove(o.Binary) > 0 {
		// etcd's downgrade procedure: the member's storage version must be
		// lowered (by etcd, soon after downgrade enable) before the older
		// binary can open it.
		return fmt.Sprintf("etcd has not yet lowered this member's storage version %s to %s", o.Data.MinorString(), o.Binary.MinorString())
	}
	var unhealthy, learners []string
	for _, m := range c.Members {
		switch {
		case m.Learner:
			learners = append(learners, m.Name)
		case m.Name != o.Self && !m.Healthy:
			unhealthy = append(unhealthy, m.Name)
		}
	}
	slices.Sort(unhealthy)
	slices.Sort(learners)
	if len(unhealthy) > 0 {
		return "voter(s) " + strings.Join(unhealthy, ", ") + " not healthy"
	}
	if len(learners) > 0 {
		return "learner(s) " + strings.Join(learners, ", ") + " not yet promoted"
	}
	return ""
}

// Downgrading reports whether the cluster has a downgrade enabled.
func (o Observed) Downgrading() bool { return o.Cluster != nil && !o.Cluster.Downgrade.IsZero() }

func downgradeEnabledTo(c *Cluster, b Version) bool {
	return c != nil && !c.Downgrade.IsZero() && c.Downgrade.Major == b.Major && c.Downgrade.Minor == b.Minor
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// LiveDataVersion is what a running member's data dir holds, or will hold
// when its turn to upgrade comes. 3.5 reports no storage version: its data
// is its release's. A 3.6+ member reports the storage version its monitor
// last wrote, which trails the cluster version by a few seconds after the
// cluster forms or upgrades; outside a downgrade the monitor raises it to
// the cluster version, so a freshly formed 3.6 cluster does not count as 3.5
// data. It is pure.
func LiveDataVersion(m Member, c Cluster) Version {
	data := m.Storage
	if data.IsZero() {
		return m.Server
	}
	if c.Downgrade.IsZero() && !c.Version.IsZero() && data.Compare(c.Version) < 0 {
		return c.Version
	}
	return data
}
