package backup

import (
	"errors"
	"testing"

	"github.com/etcdboot/etcdboot/spec"
)

func TestDecideWhoWrites(t *testing.T) {
	names := map[uint64]string{1: "etcd1", 2: "etcd2", 3: "etcd3"}
	tests := []struct {
		name    string
		in      Observed
		write   bool
		reason  string
		noWrite bool // ErrNoWriter
	}{
		{"leader writes", Observed{Writer: spec.WriterLeader, SelfID: 2, LeaderID: 2, Names: names}, true, "member etcd2 is the leader", false},
		{"empty writer means leader", Observed{SelfID: 2, LeaderID: 2, Names: names}, true, "member etcd2 is the leader", false},
		{"follower skips", Observed{Writer: spec.WriterLeader, SelfID: 1, LeaderID: 2, Names: names}, false, "member etcd1 is not the leader (etcd2 is)", false},
		{"no leader fails", Observed{Writer: spec.WriterLeader, SelfID: 1, Names: names}, false, "", true},
		{"learner never writes", Observed{Writer: spec.WriterLeader, SelfID: 3, LeaderID: 3, SelfIsLearner: true, Names: names}, false, "member etcd3 is a learner", false},
		{"named writer writes without being leader", Observed{Writer: "etcd3", SelfID: 3, LeaderID: 1, Names: names}, true, "member etcd3 is backup.writer", false},
		{"named writer writes without a leader", Observed{Writer: "etcd3", SelfID: 3, Names: names}, true, "member etcd3 is backup.writer", false},
		{"others skip for a named writer", Observed{Writer: "etcd3", SelfID: 1, LeaderID: 1, Names: names}, false, "member etcd1 is not backup.writer (etcd3 is)", false},
		{"a named writer that is gone fails", Observed{Writer: "etcd9", SelfID: 1, LeaderID: 1, Names: names}, false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Decide(tt.in)
			if tt.noWrite {
				if !errors.Is(err, ErrNoWriter) || d.Write {
					t.Fatalf("Decide = %+v, %v; want ErrNoWriter", d, err)
				}
				return
			}
			if err != nil || d.Write != tt.write || d.Reason != tt.reason {
				t.Errorf("Decide = %+v, %v; want write %v, reason %q", d, err, tt.write, tt.reason)
			}
		})
	}
}
