package bootstrap

import (
	"fmt"
	"slices"
	"testing"

	"github.com/etcdboot/etcdboot/internal/upgrade"
)

func TestOwnDataVersion(t *testing.T) {
	v := upgrade.MustParse
	tests := []struct {
		name string
		own  ownEtcd
		c    *upgrade.Cluster
		want string
	}{
		{"3.5 reports no storage version: its release", ownEtcd{server: v("3.5.27")}, &upgrade.Cluster{Version: v("3.5.0")}, "3.5.27"},
		{"a fresh 3.6 member whose monitor has not raised the storage version", ownEtcd{server: v("3.6.16"), storage: v("3.5.0")}, &upgrade.Cluster{Version: v("3.6.0")}, "3.6.0"},
		{"during a downgrade the reported storage version stands", ownEtcd{server: v("3.7.3"), storage: v("3.6.0")}, &upgrade.Cluster{Version: v("3.7.0"), Downgrade: v("3.6.0")}, "3.6.0"},
		{"no cluster answer", ownEtcd{server: v("3.6.16"), storage: v("3.6.0")}, nil, "3.6.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ownDataVersion(&tt.own, tt.c).String(); got != tt.want {
				t.Errorf("ownDataVersion = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestUpgradeEndpoints(t *testing.T) {
	n := testNode()
	running := discovered{running: &runningCluster{endpoints: []string{"https://10.0.0.1:2379"}}}
	if got := upgradeEndpoints(n, running, nil); !slices.Equal(got, []string{"https://10.0.0.1:2379"}) {
		t.Errorf("self down: %v", got)
	}
	if got := upgradeEndpoints(n, running, &ownEtcd{}); !slices.Equal(got, []string{"https://10.0.0.1:2379", n.clientURL()}) {
		t.Errorf("self running: %v", got)
	}
	if got := upgradeEndpoints(n, discovered{}, nil); len(got) != 0 {
		t.Errorf("nothing answers: %v", got)
	}
}

func TestAppendUpgradeKeepsTheNewestTen(t *testing.T) {
	var recs []UpgradeRecord
	for i := range 12 {
		recs = appendUpgrade(recs, UpgradeRecord{To: fmt.Sprint(i)})
	}
	if len(recs) != 10 || recs[0].To != "2" || recs[9].To != "11" {
		t.Errorf("kept %+v", recs)
	}
}
