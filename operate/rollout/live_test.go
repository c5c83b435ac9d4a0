package rollout

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/upgrade"
)

func testPKI(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(t), OutDir: out}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, "pki")
}

// startThree starts a three-member cluster of one release on 127.0.0.1.
func startThree(t *testing.T, pki, release string) []*etcdtest.Etcd {
	t.Helper()
	dir := t.TempDir()
	ports := etcdtest.FreePorts(t, 3)
	var initial []string
	for i, p := range ports {
		initial = append(initial, fmt.Sprintf("etcd%d=%s", i+1, etcdtest.PeerURL(p)))
	}
	var members []etcdtest.Member
	for i, p := range ports {
		members = append(members, etcdtest.Member{Name: fmt.Sprintf("etcd%d", i+1), PKIDir: pki, DataDir: filepath.Join(dir, fmt.Sprint(i)),
			PeerPort: p, InitialCluster: strings.Join(initial, ","), Version: release})
	}
	return etcdtest.StartCluster(t, members...)
}

func options(all []*etcdtest.Etcd) Options {
	o := Options{TLS: all[0].TLS, Timeout: 20 * time.Second}
	for _, e := range all {
		o.Endpoints = append(o.Endpoints, e.Endpoint)
	}
	return o
}

// TestPlanOnARunningCluster: a real 3.6.16 cluster may roll to 3.7.3 in
// three steps with its leader last, and not to 3.5.27 without a downgrade.
func TestPlanOnARunningCluster(t *testing.T) {
	all := startThree(t, testPKI(t), "v3.6.16")
	o := options(all)
	p, err := MakePlan(context.Background(), o, "3.7.3")
	if err != nil {
		t.Fatal(err)
	}
	if p.Refused != "" || len(p.Steps) != 3 || p.ClusterVersion != "3.6" {
		t.Fatalf("plan %+v: want three steps from cluster version 3.6", p)
	}
	for i, s := range p.Steps {
		if s.Action != string(upgrade.ActionUpgrade) || s.From != "3.6.16" || s.Leader != (i == 2) {
			t.Errorf("step %d %+v: want an upgrade from 3.6.16, the leader last", i+1, s)
		}
	}
	p, err = MakePlan(context.Background(), o, "3.5.27")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Refused, "downgrade needs etcd's downgrade procedure") {
		t.Errorf("3.6 -> 3.5 planned without a downgrade: %+v", p)
	}
	if _, err := MakePlan(context.Background(), o, "3.7"); err == nil {
		t.Error("a target without a patch release was accepted")
	}
}

// TestDowngradeEnablesTheOlderRelease: etcd's downgrade procedure on a real
// 3.7.3 cluster; afterwards the cluster reports it, its version drops, and
// a plan back to 3.6.16 is no longer refused.
func TestDowngradeEnablesTheOlderRelease(t *testing.T) {
	all := startThree(t, testPKI(t), "v3.7.3")
	o := options(all)
	res, err := Downgrade(context.Background(), o, "3.6")
	if err != nil {
		t.Fatal(err)
	}
	if res.Target != "3.6" {
		t.Errorf("result %+v", res)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		p, err := MakePlan(context.Background(), o, "3.6.16")
		if err != nil {
			t.Fatal(err)
		}
		if p.Refused == "" && p.ClusterVersion == "3.6" {
			if len(p.Steps) != 3 {
				t.Fatalf("downgrade plan %+v", p)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the downgrade was enabled the plan is still %+v", p)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
