package upgrade

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

func testPKI(t *testing.T) string {
	t.Helper()
	out := t.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(t), OutDir: out}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, "pki")
}

// TestObserveEachReleaseOfTheMatrix runs every etcd release `make etcd`
// builds: its --version, a member of it as Decide sees it, and the version
// its data dir records once stopped.
func TestObserveEachReleaseOfTheMatrix(t *testing.T) {
	pki := testPKI(t)
	for _, release := range etcdtest.Versions {
		t.Run(release, func(t *testing.T) {
			want := MustParse(release)
			got, err := BinaryVersion(context.Background(), etcdtest.VersionBinary(t, release, "etcd"))
			if err != nil || got != want {
				t.Fatalf("BinaryVersion = %v, %v; want %v", got, err, want)
			}
			data := filepath.Join(t.TempDir(), "data")
			if v, err := DataVersion(data); err != nil || !v.IsZero() {
				t.Fatalf("DataVersion of an empty dir = %v, %v", v, err)
			}
			e := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: data, Version: release})
			cli := e.Client(t)
			defer cli.Close()
			tlsConf, err := e.TLS.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			var c *Cluster
			deadline := time.Now().Add(20 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				c, err = ObserveCluster(ctx, cli, tlsConf)
				cancel()
				if err == nil && !c.Version.IsZero() || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Members) != 1 || c.Members[0].Server != want || !c.Members[0].Healthy || c.Members[0].Learner {
				t.Errorf("members %+v, want one healthy voter on %v", c.Members, want)
			}
			if c.Version.Minor != want.Minor || len(c.Alarms) != 0 || !c.Downgrade.IsZero() {
				t.Errorf("cluster %+v: want version %s, no alarm, no downgrade", c, want.MinorString())
			}
			e.Stop()
			dv, err := DataVersion(data)
			if err != nil {
				t.Fatal(err)
			}
			if dv.Minor != want.Minor {
				t.Errorf("DataVersion = %v, want %s", dv, want.MinorString())
			}
		})
	}
}

// TestDecideOnRealDataDirs: a data dir written by 3.5.27 is refused by
// 3.7.3 (a skipped minor) and taken by 3.6.16, which then serves its keys.
func TestDecideOnRealDataDirs(t *testing.T) {
	pki := testPKI(t)
	data := filepath.Join(t.TempDir(), "data")
	old := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: data, Version: "v3.5.27"})
	cli := old.Client(t)
	etcdtest.PutKeys(t, cli, 100, 16)
	cli.Close()
	old.Stop()
	dv, err := DataVersion(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		release string
		want    Action
		reason  string
	}{
		{"v3.7.3", ActionRefuse, "roll an image with etcd 3.6 first"},
		{"v3.6.16", ActionStart, "no member answering"},
	} {
		bin, err := BinaryVersion(context.Background(), etcdtest.VersionBinary(t, tt.release, "etcd"))
		if err != nil {
			t.Fatal(err)
		}
		d := Decide(Observed{Binary: bin, Data: dv, LastRun: MustParse("3.5.27")})
		if d.Action != tt.want || !strings.Contains(d.Reason, tt.reason) {
			t.Errorf("%s over a 3.5 data dir: %s (%s), want %s (%q)", tt.release, d.Action, d.Reason, tt.want, tt.reason)
		}
	}
	u, err := url.Parse(old.PeerURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	upgraded := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: data, Version: "v3.6.16", PeerPort: port})
	cli = upgraded.Client(t)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/etcdtest/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 100 {
		t.Fatalf("after the upgrade: %v keys, %v; want 100", resp, err)
	}
}

// TestV2EntriesLeaveTheReplayAtA36Snapshot: a data dir written by 3.5.27
// replays v2 entries (which 3.7 cannot apply); once 3.6.16 ran on it and
// took a raft snapshot, it replays none, read while etcd runs and after.
func TestV2EntriesLeaveTheReplayAtA36Snapshot(t *testing.T) {
	pki := testPKI(t)
	data := filepath.Join(t.TempDir(), "data")
	old := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: data, Version: "v3.5.27"})
	cli := old.Client(t)
	etcdtest.PutKeys(t, cli, 10, 16)
	cli.Close()
	old.Stop()
	if n, err := V2Entries(data); err != nil || n == 0 {
		t.Fatalf("V2Entries of a 3.5 data dir = %d, %v; want some", n, err)
	}
	if d := Decide(Observed{Binary: MustParse("3.7.3"), Data: MustParse("3.6.0"), V2Entries: 1}); d.Action != ActionRefuse {
		t.Fatalf("3.7 over v2 entries: %s", d.Action)
	}
	u, err := url.Parse(old.PeerURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	upgraded := etcdtest.Start(t, etcdtest.Member{PKIDir: pki, DataDir: data, Version: "v3.6.16", PeerPort: port, Flags: []string{"--snapshot-count=50"}})
	cli = upgraded.Client(t)
	defer cli.Close()
	for i := range 120 { // one entry each: past --snapshot-count
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cli.Put(ctx, "/v2gone", strconv.Itoa(i))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := V2Entries(data) // etcd runs: read-only, torn tail tolerated
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("V2Entries while 3.6 runs after a snapshot = %d, %v; want 0", n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	upgraded.Stop()
	if n, err := V2Entries(data); err != nil || n != 0 {
		t.Fatalf("V2Entries after 3.6 stopped = %d, %v; want 0", n, err)
	}
}

// TestDataVersionOfAClusterThatNeverDecidedItsVersion: two members of
// three are up, so the cluster keeps etcd's initial version 3.0 (it rises
// only once every member published its own); one is stopped. Its data dir
// records 3.0, which says nothing about what wrote it: DataVersion reads it
// as new data, and Decide starts the member instead of refusing a skip of
// five minors (CI: TestAgentKilledAtEveryStepComesUp killed a member in
// that window).
func TestDataVersionOfAClusterThatNeverDecidedItsVersion(t *testing.T) {
	pki := testPKI(t)
	ports := etcdtest.FreePorts(t, 3)
	var initial []string
	for i, p := range ports {
		initial = append(initial, fmt.Sprintf("etcd%d=%s", i+1, etcdtest.PeerURL(p)))
	}
	dirs := []string{filepath.Join(t.TempDir(), "etcd1"), filepath.Join(t.TempDir(), "etcd2")}
	members := etcdtest.StartCluster(t,
		etcdtest.Member{Name: "etcd1", PKIDir: pki, DataDir: dirs[0], PeerPort: ports[0], InitialCluster: strings.Join(initial, ",")},
		etcdtest.Member{Name: "etcd2", PKIDir: pki, DataDir: dirs[1], PeerPort: ports[1], InitialCluster: strings.Join(initial, ",")},
	)
	cli := members[0].Client(t)
	etcdtest.PutKeys(t, cli, 10, 16)
	cli.Close()
	members[0].Stop()
	dv, err := DataVersion(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !dv.IsZero() {
		t.Fatalf("DataVersion of a member whose cluster never decided its version = %v, want zero (new data)", dv)
	}
	bin, err := BinaryVersion(context.Background(), etcdtest.Binary(t, "etcd"))
	if err != nil {
		t.Fatal(err)
	}
	if d := Decide(Observed{Binary: bin, Data: dv}); d.Action != ActionStart {
		t.Fatalf("Decide = %s (%s), want start", d.Action, d.Reason)
	}
}
