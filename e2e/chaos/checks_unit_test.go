package chaos

import (
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// These tests need neither root nor a cluster: they check the checker.

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func call(client int, kind OpKind, key string, from, to int) Op {
	return Op{Client: client, Kind: kind, Key: key, Call: ms(from), Return: ms(to), Result: ResultOK}
}

func put(client int, key, value string, from, to int, rev int64) Op {
	o := call(client, OpPut, key, from, to)
	o.Value, o.Revision = value, rev
	return o
}

func get(client int, key, got string, from, to int) Op {
	o := call(client, OpGet, key, from, to)
	o.Found, o.Got = got != "", got
	return o
}

func cas(client int, key, expect, value string, ok bool, from, to int, rev int64) Op {
	o := call(client, OpCAS, key, from, to)
	o.Expect, o.Value, o.Succeeded, o.Revision = expect, value, ok, rev
	return o
}

func del(client int, key string, deleted int64, from, to int, rev int64) Op {
	o := call(client, OpDelete, key, from, to)
	o.Deleted, o.Revision = deleted, rev
	return o
}

func unanswered(o Op, r Result) Op {
	o.Result, o.Return, o.Err, o.Succeeded, o.Deleted, o.Revision = r, o.Call+ms(2500), "context deadline exceeded", false, 0, 0
	return o
}

// events is the revision history the calls imply, for the tests.
func historyOf(evs ...event) []event { return evs }

func linearizable(t *testing.T, calls []Op, events []event) bool {
	t.Helper()
	r := resolve(calls, events)
	res, _ := porcupine.CheckOperationsVerbose(kvModel, r.ops, 10*time.Second)
	if res == porcupine.Unknown {
		t.Fatal("porcupine timed out")
	}
	return res == porcupine.Ok
}

func TestLinearizableHistoryPasses(t *testing.T) {
	calls := []Op{
		put(0, "a", "v1", 0, 10, 2),
		get(1, "a", "v1", 11, 20),
		cas(0, "a", "v1", "v2", true, 21, 30, 3),
		cas(1, "a", "v1", "v3", false, 31, 40, 3),
		// Concurrent with the delete, the read may see either.
		del(0, "a", 1, 41, 50, 4),
		get(1, "a", "v2", 42, 49),
		get(1, "a", "", 51, 60),
		cas(0, "a", "v2", "v4", false, 61, 70, 4),
	}
	events := historyOf(event{Key: "a", Value: "v1", Revision: 2}, event{Key: "a", Value: "v2", Revision: 3}, event{Key: "a", Delete: true, Revision: 4})
	if !linearizable(t, calls, events) {
		t.Fatal("a linearizable history was refused")
	}
	if bad := checkDurability(calls, events, map[string]map[string]string{"m1": {}}); len(bad) > 0 {
		t.Fatalf("durability violations in a good history: %v", bad)
	}
}

func TestStaleReadIsNotLinearizable(t *testing.T) {
	calls := []Op{
		put(0, "a", "v1", 0, 10, 2),
		put(0, "a", "v2", 11, 20, 3),
		// A member cut off from the others answering from its old state.
		get(1, "a", "v1", 21, 30),
	}
	events := historyOf(event{Key: "a", Value: "v1", Revision: 2}, event{Key: "a", Value: "v2", Revision: 3})
	if linearizable(t, calls, events) {
		t.Fatal("a stale read after an acknowledged write passed")
	}
}

func TestCompareAndSwapOnAMissingKeyFails(t *testing.T) {
	// etcd fails a value comparison on a missing key, even against "".
	calls := []Op{cas(0, "a", "", "v1", true, 0, 10, 2)}
	if linearizable(t, calls, historyOf(event{Key: "a", Value: "v1", Revision: 2})) {
		t.Fatal("a compare-and-swap succeeded on a missing key")
	}
}

func TestUnansweredWritesAreSettledByTheRevisionHistory(t *testing.T) {
	lost := unanswered(put(0, "a", "v1", 0, 10, 0), ResultUnknown)
	applied := unanswered(put(1, "a", "v2", 5, 15, 0), ResultFailed)
	calls := []Op{lost, applied, get(2, "a", "v2", 3000, 3010)}
	events := historyOf(event{Key: "a", Value: "v2", Revision: 2})
	r := resolve(calls, events)
	if r.lostUnacked != 1 || r.appliedUnacked != 1 || len(r.ops) != 2 {
		t.Fatalf("resolved %+v, want v1 left out and v2 applied", r)
	}
	if !linearizable(t, calls, events) {
		t.Fatal("a read of a timed-out write that was applied was refused")
	}
	// Reading the value of a write that was never applied is not.
	calls[2] = get(2, "a", "v1", 3000, 3010)
	if linearizable(t, calls, events) {
		t.Fatal("a read of a write that was never applied passed")
	}
}

func TestAnUnansweredDeleteMayOrMayNotHaveHappened(t *testing.T) {
	d := unanswered(del(0, "a", 0, 20, 30, 0), ResultUnknown)
	base := []Op{put(0, "a", "v1", 0, 10, 2), d}
	for _, later := range []Op{get(1, "a", "v1", 4000, 4010), get(1, "a", "", 4000, 4010)} {
		if !linearizable(t, append(base, later), historyOf(event{Key: "a", Value: "v1", Revision: 2})) {
			t.Fatalf("refused %+v after a delete of unknown result", later)
		}
	}
}

func TestDurabilityFindsLostPhantomAndStaleWrites(t *testing.T) {
	calls := []Op{
		put(0, "a", "v1", 0, 10, 2),
		put(0, "b", "v2", 11, 20, 3),
		put(0, "c", "v3", 21, 30, 4),
	}
	events := historyOf(
		event{Key: "a", Value: "v1", Revision: 2},
		// b's acknowledged write is missing; a value nobody wrote, and
		// c's value applied twice.
		event{Key: "b", Value: "ghost", Revision: 3},
		event{Key: "c", Value: "v3", Revision: 4},
		event{Key: "c", Value: "v3", Revision: 5},
	)
	final := map[string]map[string]string{"m1": {"a": "v1", "c": "v3"}, "m2": {"a": "old", "c": "v3"}}
	bad := strings.Join(checkDurability(calls, events, final), "\n")
	for _, want := range []string{
		`acknowledged put of b="v2" at revision 3`,
		`value "ghost" in the history`,
		`value "v3" applied 2 times`,
		`m2 serves a="old"`,
		`m1 serves b=""`,
	} {
		if !strings.Contains(bad, want) {
			t.Errorf("no violation %q in:\n%s", want, bad)
		}
	}
}

func TestSameSeedDrawsTheSameSchedule(t *testing.T) {
	a, b := NewSchedule(42, 5, 4*time.Minute), NewSchedule(42, 5, 4*time.Minute)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("seed 42 drew two schedules:\n%s\n%s", a, b)
	}
	if reflect.DeepEqual(a, NewSchedule(43, 5, 4*time.Minute)) {
		t.Fatal("seeds 42 and 43 drew the same schedule")
	}
}

func TestScheduleNeverTakesAMajorityAway(t *testing.T) {
	seen := map[Kind]bool{}
	for _, size := range []int{3, 5} {
		for seed := uint64(0); seed < 200; seed++ {
			for i, st := range NewSchedule(seed, size, 3*time.Minute).Steps {
				away := 0
				for _, f := range st.Faults {
					away += f.impact(size)
					seen[f.Kind] = true
				}
				if away > (size-1)/2 {
					t.Fatalf("seed %d, size %d, step %d takes %d of %d away: %+v", seed, size, i+1, away, size, st)
				}
			}
		}
	}
	for _, k := range Kinds {
		if !seen[k] {
			t.Errorf("no schedule draws %s", k)
		}
	}
}

func TestPeerSetDiff(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	members := []netip.Addr{a("10.123.0.11"), a("10.123.0.12"), a("10.123.0.20")}
	for _, tc := range []struct {
		name string
		have []netip.Addr
		want string
	}{
		{"same set, any order", []netip.Addr{a("10.123.0.20"), a("10.123.0.11"), a("10.123.0.12")}, ""},
		{"a removed member still let in", append(slices.Clone(members), a("10.123.0.13")), "lets in non-members 10.123.0.13"},
		{"a new member shut out", members[:2], "shuts out members 10.123.0.20"},
		{"both", []netip.Addr{a("10.123.0.11"), a("10.123.0.12"), a("10.123.0.13")}, "lets in non-members 10.123.0.13; shuts out members 10.123.0.20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := peerSetDiff(tc.have, members); got != tc.want {
				t.Errorf("peerSetDiff = %q, want %q", got, tc.want)
			}
		})
	}
}
