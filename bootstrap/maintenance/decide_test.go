package maintenance

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/spec"
)

const mib = 1 << 20

// member is a healthy voter with size MiB, inUse MiB of it holding data.
func member(id uint64, name string, size, inUse int64) MemberStatus {
	return MemberStatus{ID: id, Name: name, Endpoint: "https://" + name + ":2379", Healthy: true, DBSize: size * mib, DBSizeInUse: inUse * mib}
}

func TestDecide(t *testing.T) {
	noon := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	policy := Policy{FreeRatio: 0.5, MinFreeBytes: 64 * mib}
	window := &spec.MaintenanceWindow{Start: "02:00", Duration: spec.Duration(4 * time.Hour)}
	fragmented := []MemberStatus{member(1, "etcd1", 400, 100), member(2, "etcd2", 400, 100), member(3, "etcd3", 400, 100)}
	with := func(ms []MemberStatus, i int, f func(*MemberStatus)) []MemberStatus {
		out := append([]MemberStatus(nil), ms...)
		f(&out[i])
		return out
	}
	tests := []struct {
		name   string
		obs    Observed
		policy Policy
		// want is the decision's kind and steps as "name" or
		// "name(leader->to)"; a skip is "skip: " and the start of its reason.
		want []string
	}{
		{"followers by name, the leader last, leadership to the last follower done",
			Observed{Members: fragmented, Leader: 1, Now: noon}, policy,
			[]string{KindDefrag, "etcd2", "etcd3", "etcd1(leader->3)"}},
		{"a follower leads",
			Observed{Members: fragmented, Leader: 2, Now: noon}, policy,
			[]string{KindDefrag, "etcd1", "etcd3", "etcd2(leader->3)"}},
		{"only members over the threshold",
			Observed{Members: with(fragmented, 1, func(m *MemberStatus) { m.DBSizeInUse = 300 * mib }), Leader: 1, Now: noon}, policy,
			[]string{KindDefrag, "etcd3", "etcd1(leader->3)"}},
		{"only the leader: leadership to the first follower",
			Observed{Members: []MemberStatus{member(1, "etcd1", 400, 100), member(2, "etcd2", 400, 390), member(3, "etcd3", 400, 390)}, Leader: 1, Now: noon}, policy,
			[]string{KindDefrag, "etcd1(leader->2)"}},
		{"the leader not fragmented stays",
			Observed{Members: with(fragmented, 0, func(m *MemberStatus) { m.DBSizeInUse = 399 * mib }), Leader: 1, Now: noon}, policy,
			[]string{KindDefrag, "etcd2", "etcd3"}},
		{"a single member cluster: nobody to move leadership to",
			Observed{Members: fragmented[:1], Leader: 1, Now: noon}, policy,
			[]string{KindDefrag, "etcd1(leader->0)"}},
		{"ratio reached but too few bytes",
			Observed{Members: []MemberStatus{member(1, "etcd1", 100, 50), member(2, "etcd2", 100, 60), member(3, "etcd3", 100, 70)}, Leader: 1, Now: noon}, policy,
			[]string{"skip: no member is over the threshold (50% free and 67 MB): the most is 52 MB on etcd1, 50% of its 105 MB"}},
		{"bytes reached but too small a share",
			Observed{Members: []MemberStatus{member(1, "etcd1", 1000, 800), member(2, "etcd2", 1000, 800), member(3, "etcd3", 1000, 800)}, Leader: 1, Now: noon}, policy,
			[]string{"skip: no member is over the threshold (50% free and 67 MB): the most is 210 MB on etcd1, 20% of its 1.0 GB"}},
		{"a voter unhealthy",
			Observed{Members: with(fragmented, 2, func(m *MemberStatus) { m.Healthy, m.Error = false, "context deadline exceeded" }), Leader: 1, Now: noon}, policy,
			[]string{"skip: voter etcd3 is not healthy (context deadline exceeded); blocking another member could cost quorum"}},
		{"a voter that never answered",
			Observed{Members: with(fragmented, 1, func(m *MemberStatus) { m.Healthy = false }), Leader: 1, Now: noon}, policy,
			[]string{"skip: voter etcd2 is not healthy (it did not answer)"}},
		{"a learner pending",
			Observed{Members: append(append([]MemberStatus(nil), fragmented...), MemberStatus{ID: 4, Name: "etcd4", Learner: true}), Leader: 1, Now: noon}, policy,
			[]string{"skip: etcd4 is a learner waiting for its promotion; a join is under way"}},
		{"a corrupt alarm",
			Observed{Members: fragmented, Leader: 1, Alarms: []Alarm{{MemberID: 2, Type: "CORRUPT"}}, Now: noon}, policy,
			[]string{"skip: alarm CORRUPT is raised on etcd2; maintenance waits until it is resolved"}},
		{"a corrupt alarm beside NOSPACE",
			Observed{Members: fragmented, Leader: 1, Alarms: []Alarm{{MemberID: 1, Type: AlarmNoSpace}, {MemberID: 2, Type: "CORRUPT"}}, Now: noon}, policy,
			[]string{"skip: alarm CORRUPT is raised on etcd2"}},
		{"no leader",
			Observed{Members: fragmented, Now: noon}, policy,
			[]string{"skip: the cluster has no leader"}},
		{"no member answered", Observed{Now: noon}, policy, []string{"skip: no member answered"}},
		{"outside the window",
			Observed{Members: fragmented, Leader: 1, Now: noon}, Policy{FreeRatio: 0.5, MinFreeBytes: 64 * mib, Window: window},
			[]string{"skip: outside the maintenance window (02:00 UTC for 4h0m0s)"}},
		{"inside the window",
			Observed{Members: fragmented, Leader: 3, Now: noon.Add(-8 * time.Hour)}, Policy{FreeRatio: 0.5, MinFreeBytes: 64 * mib, Window: window},
			[]string{KindDefrag, "etcd1", "etcd2", "etcd3(leader->2)"}},
		{"by hand the window does not apply",
			Observed{Members: fragmented, Leader: 1, Now: noon}, Policy{FreeRatio: 0.5, MinFreeBytes: 64 * mib, Window: window, IgnoreWindow: true},
			[]string{KindDefrag, "etcd2", "etcd3", "etcd1(leader->3)"}},
		{"NOSPACE heals every member, whatever the window and threshold",
			Observed{Members: []MemberStatus{member(1, "etcd1", 100, 99), member(2, "etcd2", 100, 99), member(3, "etcd3", 100, 99)}, Leader: 2,
				Alarms: []Alarm{{MemberID: 3, Type: AlarmNoSpace}}, Now: noon}, Policy{FreeRatio: 0.5, MinFreeBytes: 64 * mib, Window: window},
			[]string{KindHeal, "etcd1", "etcd3", "etcd2(leader->3)"}},
		{"NOSPACE with a voter down waits",
			Observed{Members: with(fragmented, 0, func(m *MemberStatus) { m.Healthy = false }), Leader: 2, Alarms: []Alarm{{MemberID: 3, Type: AlarmNoSpace}}, Now: noon}, policy,
			[]string{"skip: voter etcd1 is not healthy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.obs, tt.policy)
			if again := Decide(tt.obs, tt.policy); !reflect.DeepEqual(d, again) {
				t.Fatalf("Decide is not pure: %+v, then %+v", d, again)
			}
			if d.Skip {
				if len(tt.want) != 1 || !strings.HasPrefix("skip: "+d.Reason, tt.want[0]) {
					t.Errorf("skip: %s\nwant %v", d.Reason, tt.want)
				}
				if d.Kind != "" || len(d.Steps) > 0 {
					t.Errorf("a skip with steps: %+v", d)
				}
				return
			}
			got := []string{d.Kind}
			for _, s := range d.Steps {
				desc := s.Name
				if s.Leader {
					desc += "(leader->" + string(rune('0'+s.MoveTo)) + ")"
				}
				if s.MoveTo != 0 && !s.Leader {
					t.Errorf("step %+v moves leadership but does not lead", s)
				}
				got = append(got, desc)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decision %v (%s), want %v", got, d.Reason, tt.want)
			}
		})
	}
}

func TestHealerIsTheLowestHealthyVoter(t *testing.T) {
	ms := []MemberStatus{member(30, "c", 1, 1), member(10, "a", 1, 1), member(20, "b", 1, 1)}
	if got := Healer(Observed{Members: ms}); got != 10 {
		t.Errorf("healer %d, want 10", got)
	}
	ms[1].Healthy = false
	if got := Healer(Observed{Members: ms}); got != 20 {
		t.Errorf("with the lowest unhealthy: healer %d, want 20", got)
	}
	ms = append(ms, MemberStatus{ID: 1, Learner: true, Healthy: true})
	if got := Healer(Observed{Members: ms}); got != 20 {
		t.Errorf("a learner heals: %d", got)
	}
	if got := Healer(Observed{}); got != 0 {
		t.Errorf("no members: healer %d", got)
	}
}

func TestCompactRevisionKeepsTheRetention(t *testing.T) {
	for _, tt := range []struct{ current, retention, want int64 }{
		{5000, 1000, 4000},
		{1000, 1000, 0},
		{10, 1000, 0},
		{5000, 0, 5000},
	} {
		if got := CompactRevision(tt.current, tt.retention); got != tt.want {
			t.Errorf("CompactRevision(%d, %d) = %d, want %d", tt.current, tt.retention, got, tt.want)
		}
	}
}

func TestCanDisarmOnlyBelowTheQuotaWithMargin(t *testing.T) {
	quota := int64(100 * mib)
	for _, tt := range []struct {
		name  string
		sizes []int64
		want  bool
		why   string
	}{
		{"all small", []int64{10, 20, 30}, true, ""},
		{"one at the limit", []int64{10, 90, 30}, true, ""},
		{"one over the limit", []int64{10, 91, 30}, false, "the database of m2 is 95 MB after compaction and defragmentation, more than 94 MB (the quota 105 MB less 10%): the data itself fills the quota; delete keys or raise etcd.quotaBackendBytes, then etcdctl alarm disarm"},
	} {
		var ms []MemberStatus
		for i, s := range tt.sizes {
			ms = append(ms, member(uint64(i+1), "m"+string(rune('1'+i)), s, s))
		}
		ok, why := CanDisarm(ms, quota, 0.1)
		if ok != tt.want || why != tt.why {
			t.Errorf("%s: CanDisarm = %v, %q; want %v, %q", tt.name, ok, why, tt.want, tt.why)
		}
	}
}

func TestStateCountsRoundsByKindAndResult(t *testing.T) {
	at := time.Date(2024, 5, 1, 2, 0, 0, 0, time.UTC)
	var s State
	s = s.Record(Round{Kind: KindDefrag, Result: ResultSkipped, Finished: at})
	s = s.Record(Round{Kind: KindDefrag, Result: ResultOK, Finished: at.Add(time.Hour), Members: []MemberResult{{Name: "etcd2"}}, Reclaimed: 300})
	s = s.Record(Round{Kind: KindHeal, Result: ResultFailed, Finished: at.Add(2 * time.Hour), Reclaimed: 50})
	s = s.Record(Round{Kind: KindHeal, Result: ResultOK, Finished: at.Add(3 * time.Hour)})
	want := State{Defrag: Counts{OK: 1, Skipped: 1}, Heal: Counts{OK: 1, Failed: 1}, Reclaimed: 350, LastSuccess: at.Add(time.Hour)}
	last := s.Last
	s.Last = nil
	if !reflect.DeepEqual(s, want) || last == nil || last.Kind != KindHeal {
		t.Errorf("state %+v (last %+v), want %+v", s, last, want)
	}
}
