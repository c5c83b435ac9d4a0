package bootstrap

import (
	"net/netip"
	"slices"
	"testing"
)

func TestListedUnderAnotherID(t *testing.T) {
	const payloadID, dataDirID, recovered = 0x11, 0x22, 0x33
	for _, tc := range []struct {
		name     string
		action   Action
		self     SelfState
		listed   uint64
		dataDir  uint64
		expected bool
	}{
		{"an initial member booting late under the payload's ID", ActionNew, SelfUnstarted, payloadID, 0, false},
		{"an initial member booting late after a recovery", ActionNew, SelfUnstarted, recovered, 0, true},
		{"a survivor still on the old data after the others recovered", ActionRestart, SelfUnstarted, recovered, dataDirID, true},
		{"a restart over its own unstarted learner", ActionRestart, SelfUnstarted, dataDirID, dataDirID, false},
		{"a restart whose data dir names no ID", ActionRestart, SelfUnstarted, recovered, 0, false},
		{"a started member is not recovered", ActionRestart, SelfStarted, recovered, dataDirID, false},
		{"a join is not recovered", ActionJoin, SelfUnstarted, recovered, 0, false},
		{"absent", ActionNew, SelfAbsent, recovered, 0, false},
	} {
		if got := listedUnderAnotherID(tc.action, tc.self, tc.listed, payloadID, tc.dataDir); got != tc.expected {
			t.Errorf("%s: listedUnderAnotherID = %v, want %v", tc.name, got, tc.expected)
		}
	}
}

func TestRememberedAddrsAreTheDataDirsMembersNotAskedYet(t *testing.T) {
	a := netip.MustParseAddr
	member := func(urls ...string) StoredMember { return StoredMember{PeerURLs: urls} }
	for _, tc := range []struct {
		name   string
		stored []StoredMember
		asked  []netip.Addr
		want   []netip.Addr
	}{
		{"no data dir", nil, []netip.Addr{a("10.0.1.11")}, nil},
		{"every seed replaced: the members the disk lists",
			[]StoredMember{member("https://10.0.1.21:2380"), member("https://10.0.1.23:2380")},
			[]netip.Addr{a("10.0.1.11"), a("10.0.1.12"), a("10.0.1.13")},
			[]netip.Addr{a("10.0.1.21"), a("10.0.1.23")}},
		{"those already asked are not asked again",
			[]StoredMember{member("https://10.0.1.11:2380"), member("https://10.0.1.21:2380")},
			[]netip.Addr{a("10.0.1.11")},
			[]netip.Addr{a("10.0.1.21")}},
		{"two peer URLs, IPv6, a repeat",
			[]StoredMember{member("https://10.0.1.21:2380", "https://[fd00::21]:2380"), member("https://10.0.1.21:2390")},
			nil,
			[]netip.Addr{a("10.0.1.21"), a("fd00::21")}},
		{"a host name or a bad URL is passed over",
			[]StoredMember{member("https://etcd-1.example.internal:2380", "::not a url", "https://10.0.1.22:2380")},
			nil,
			[]netip.Addr{a("10.0.1.22")}},
	} {
		if got := rememberedAddrs(tc.stored, tc.asked); !slices.Equal(got, tc.want) {
			t.Errorf("%s: rememberedAddrs = %v, want %v", tc.name, got, tc.want)
		}
	}
}
