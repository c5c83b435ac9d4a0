package backupstore

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/internal/s3test"
	"github.com/etcdboot/etcdboot/internal/snapshot"
)

// testSnapshot is a real etcd snapshot: 3 keys at revision 4.
var testSnapshot = filepath.Join("..", "snapshot", "testdata", "three-keys.db")

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// backend is one kind of target the same tests run against.
type backend struct {
	name string
	// target returns a new, empty target URL.
	target func(t *testing.T) string
	// bad are targets Open must refuse, each with the error it must match
	// and a word its message must hold.
	bad []badTarget
}

type badTarget struct {
	what, target string
	err          error
	says         string
}

// backends are a directory and a real S3 server (SeaweedFS), started once.
func backends(t *testing.T) []backend {
	dirs := backend{name: "file", target: func(t *testing.T) string { return "file://" + t.TempDir() },
		bad: []badTarget{
			{"a directory that does not exist", "file:///nonexistent/etcd", ErrBucketMissing, "directory /nonexistent/etcd does not exist"},
			{"a relative path", "file://backups/etcd", nil, "three slashes"},
			{"another scheme", "ftp://host/etcd", nil, "use one of s3, gs, azblob, file"},
		}}
	if testing.Short() {
		return []backend{dirs}
	}
	srv := s3test.Start(t, s3test.Options{})
	srv.SetEnv(t)
	n := 0
	s3 := backend{name: "s3", target: func(t *testing.T) string {
		n++
		return srv.URL("etcd/" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + itoa(int64(n)))
	}}
	wrongKey := *srv
	wrongKey.Bucket = "no-such-bucket"
	s3.bad = []badTarget{
		{"a bucket that does not exist", wrongKey.URL("etcd"), ErrBucketMissing, "no-such-bucket"},
		{"an endpoint nothing listens on", strings.Replace(srv.URL("etcd"), url.QueryEscape(srv.Endpoint), url.QueryEscape("http://127.0.0.1:1"), 1), ErrUnreachable, "check the endpoint"},
		{"credentials in the URL", strings.Replace(srv.URL("etcd"), "s3://", "s3://key:secret@", 1), nil, "carries credentials"},
		{"an unknown parameter", srv.URL("etcd") + "&colour=blue", nil, "colour"},
	}
	return []backend{dirs, s3}
}

func open(t *testing.T, target string) *Store {
	t.Helper()
	s, err := Open(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// manifestFor describes testSnapshot as the writer would.
func manifestFor(t *testing.T, cluster string, taken time.Time) Manifest {
	t.Helper()
	info, err := snapshot.Status(testSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	return Manifest{Cluster: cluster, ClusterID: "cdf818194e3a8c32", Member: "etcd1", Taken: taken,
		Revision: info.Revision, TotalKeys: info.TotalKeys, EtcdVersion: "3.6.16", StorageVersion: info.Version,
		Hash: info.Hash, SHA256: info.SHA256, Verified: true}
}

func put(t *testing.T, s *Store, cluster string, taken time.Time) Manifest {
	t.Helper()
	m, err := s.Put(context.Background(), testSnapshot, manifestFor(t, cluster, taken))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func names(ms []Manifest) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestStore(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Run("PutListFetchPrune", func(t *testing.T) { testPutListFetchPrune(t, b.target(t)) })
			t.Run("BadBackupsAreReportedNotTaken", func(t *testing.T) { testBadBackups(t, b.target(t)) })
			t.Run("ConditionalWriteHasOneWinner", func(t *testing.T) { testConditionalWrite(t, b.target(t)) })
			t.Run("OpenFailsClearly", func(t *testing.T) { testOpenFails(t, b.bad) })
		})
	}
}

// testPutListFetchPrune: backups list newest first with their manifests,
// another cluster's are apart, a fetch checks and returns the snapshot,
// and retention by count then by age removes the oldest, never the newest.
func testPutListFetchPrune(t *testing.T, target string) {
	ctx := context.Background()
	s := open(t, target)
	for i := range 4 {
		put(t, s, "demo", t0.Add(time.Duration(i)*time.Hour))
	}
	other := put(t, s, "demo-2", t0.Add(10*time.Hour)) // a name that starts with "demo-"
	l, err := s.List(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"demo-20240501T130000.000Z", "demo-20240501T120000.000Z", "demo-20240501T110000.000Z", "demo-20240501T100000.000Z"}
	if got := names(l.Backups); strings.Join(got, " ") != strings.Join(want, " ") || len(l.Problems) != 0 {
		t.Fatalf("List(demo) = %v, problems %+v; want %v", got, l.Problems, want)
	}
	newest := l.Backups[0]
	if newest.Object != "snapshots/"+want[0]+".db" || newest.Size != 20512 || newest.Revision != 4 || newest.TotalKeys != 3 ||
		newest.ClusterID != "cdf818194e3a8c32" || !newest.Verified || newest.Format != ManifestFormat || len(l.Verified()) != 4 {
		t.Errorf("newest manifest %+v", newest)
	}
	if all, err := s.List(ctx, ""); err != nil || len(all.Backups) != 5 || all.Backups[0].Name != other.Name {
		t.Errorf("List(all) = %v, %v", names(all.Backups), err)
	}
	// The sha256 object is sha256sum's line.
	sum, err := s.bucket.ReadAll(ctx, sumKey(newest.Name))
	if err != nil || string(sum) != newest.SHA256+"  "+newest.Name+".db\n" {
		t.Errorf("sha256 object %q, %v", sum, err)
	}

	dst := filepath.Join(t.TempDir(), "restore.db")
	m, info, err := s.Fetch(ctx, newest.Name, dst, Expect{Cluster: "demo", ClusterID: "cdf818194e3a8c32"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	orig, _ := os.ReadFile(testSnapshot)
	if !bytes.Equal(got, orig) || m.Name != newest.Name || info.Revision != 4 || info.SHA256 != newest.SHA256 {
		t.Errorf("fetched %d bytes (want %d), manifest %s, info %+v", len(got), len(orig), m.Name, info)
	}
	// A verified backup's database is not read again; what Fetch says of
	// it is what reading it (Recheck, as snapshot status does) finds.
	_, read, err := s.Fetch(ctx, newest.Name, filepath.Join(t.TempDir(), "status.db"), Expect{Recheck: true})
	if err != nil {
		t.Fatal(err)
	}
	read.Path = info.Path
	if info != read {
		t.Errorf("Fetch of a verified backup says %+v, reading its database %+v", info, read)
	}

	removed, err := s.Prune(ctx, "demo", Retention{Keep: 3}, t0.Add(4*time.Hour))
	if err != nil || strings.Join(removed, " ") != want[3] {
		t.Fatalf("Prune(keep 3) = %v, %v", removed, err)
	}
	// By age: 90 minutes keeps 13:00 and 12:00 (1h old) only... and at
	// a far later time still keeps the newest.
	removed, err = s.Prune(ctx, "demo", Retention{Keep: 3, MaxAge: 90 * time.Minute}, t0.Add(3*time.Hour+time.Minute))
	if err != nil || strings.Join(removed, " ") != want[2] {
		t.Fatalf("Prune(90m) = %v, %v", removed, err)
	}
	removed, err = s.Prune(ctx, "demo", Retention{MaxAge: time.Hour}, t0.Add(1000*time.Hour))
	if err != nil || strings.Join(removed, " ") != want[1] {
		t.Fatalf("Prune(1h, much later) = %v, %v", removed, err)
	}
	l, err = s.List(ctx, "demo")
	if err != nil || strings.Join(names(l.Backups), " ") != want[0] || len(l.Problems) != 0 {
		t.Fatalf("after pruning: %v %+v %v", names(l.Backups), l.Problems, err)
	}
	for _, key := range []string{manifestKey(want[3]), snapshotKey(want[3]), sumKey(want[3])} {
		if ok, err := s.bucket.Exists(ctx, key); ok || err != nil {
			t.Errorf("%s still there after pruning (%v)", key, err)
		}
	}
	if l, _ := s.List(ctx, "demo-2"); len(l.Backups) != 1 {
		t.Errorf("pruning demo touched demo-2: %v", names(l.Backups))
	}
}

// testBadBackups: a manifest without its object, an object without a
// manifest, a changed object, a corrupt snapshot, a backup of another
// cluster and a file that changed before upload each fail clearly and are
// never listed as a backup.
func testBadBackups(t *testing.T, target string) {
	ctx := context.Background()
	s := open(t, target)
	lost := put(t, s, "demo", t0)
	if err := s.bucket.Delete(ctx, lost.Object); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Fetch(ctx, lost.Name, filepath.Join(t.TempDir(), "x.db"), Expect{})
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), target) {
		t.Errorf("Fetch of a manifest without its object: %v", err)
	}

	flipped := put(t, s, "demo", t0.Add(time.Hour))
	data, _ := os.ReadFile(testSnapshot)
	data[len(data)/2] ^= 0xff
	if err := s.bucket.WriteAll(ctx, flipped.Object, data, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Fetch(ctx, flipped.Name, filepath.Join(t.TempDir(), "x.db"), Expect{})
	if !errors.Is(err, ErrIntegrity) || !strings.Contains(err.Error(), "use an older backup") {
		t.Errorf("Fetch of a changed object: %v", err)
	}

	// A snapshot that was corrupt before upload has a matching sha256 but
	// fails etcd's own hash.
	corrupt := filepath.Join(t.TempDir(), "corrupt.db")
	if err := os.WriteFile(corrupt, data, 0o600); err != nil {
		t.Fatal(err)
	}
	m := manifestFor(t, "demo", t0.Add(2*time.Hour))
	m.SHA256 = ""
	bad, err := s.Put(ctx, corrupt, m)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "x.db")
	_, _, err = s.Fetch(ctx, bad.Name, dst, Expect{})
	if !errors.Is(err, ErrIntegrity) || !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("Fetch of a corrupt snapshot: %v", err)
	}
	if _, serr := os.Stat(dst); serr == nil {
		t.Errorf("a snapshot that failed its checks was left at %s", dst)
	}

	good := put(t, s, "demo", t0.Add(3*time.Hour))
	_, _, err = s.Fetch(ctx, good.Name, filepath.Join(t.TempDir(), "x.db"), Expect{Cluster: "prod"})
	if !errors.Is(err, ErrOtherCluster) || !strings.Contains(err.Error(), `cluster "demo", not "prod"`) {
		t.Errorf("Fetch for another cluster: %v", err)
	}
	_, _, err = s.Fetch(ctx, good.Name, filepath.Join(t.TempDir(), "x.db"), Expect{Cluster: "demo", ClusterID: "1234"})
	if !errors.Is(err, ErrOtherCluster) {
		t.Errorf("Fetch for another cluster ID: %v", err)
	}
	if _, _, err = s.Fetch(ctx, "demo-19990101T000000.000Z", filepath.Join(t.TempDir(), "x.db"), Expect{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Fetch of no such backup: %v", err)
	}

	// A file that no longer has the verified digest is not uploaded.
	m = manifestFor(t, "demo", t0.Add(4*time.Hour))
	m.SHA256 = strings.Repeat("0", 64)
	if _, err := s.Put(ctx, testSnapshot, m); !errors.Is(err, ErrIntegrity) {
		t.Errorf("Put with another digest: %v", err)
	}
	if ok, _ := s.bucket.Exists(ctx, snapshotKey(Name("demo", m.Taken))); ok {
		t.Errorf("an upload whose digest differed left its object")
	}

	// An upload interrupted before its manifest.
	if err := s.bucket.WriteAll(ctx, snapshotKey("demo-20240501T150000.000Z"), data, nil); err != nil {
		t.Fatal(err)
	}
	l, err := s.List(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(l.Backups); strings.Join(got, " ") != good.Name+" "+bad.Name+" "+flipped.Name {
		// flipped keeps its size, bad was whole at upload: List cannot tell
		// them from good ones, Fetch does.
		t.Errorf("List = %v", got)
	}
	var whats []string
	for _, p := range l.Problems {
		whats = append(whats, p.Name+": "+p.What)
	}
	if len(l.Problems) != 2 || !strings.Contains(whats[0], lost.Name+": manifest without its snapshot object") ||
		!strings.Contains(whats[1], "demo-20240501T150000.000Z: object without a manifest") {
		t.Errorf("problems:\n%s", strings.Join(whats, "\n"))
	}
}

// testConditionalWrite: of two writes with ifNotExist, the second fails
// with ErrExists and the first's content stays.
func testConditionalWrite(t *testing.T, target string) {
	ctx := context.Background()
	s := open(t, target)
	if err := s.WriteObject(ctx, "recovery/claim.json", []byte("first"), true); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteObject(ctx, "recovery/claim.json", []byte("second"), true); !errors.Is(err, ErrExists) {
		t.Errorf("second conditional write: %v", err)
	}
	if got, err := s.ReadObject(ctx, "recovery/claim.json"); err != nil || string(got) != "first" {
		t.Errorf("ReadObject = %q, %v", got, err)
	}
	if err := s.WriteObject(ctx, "snapshots/x.db", nil, false); err == nil {
		t.Errorf("a side object was written among the snapshots")
	}
	if err := s.DeleteObject(ctx, "recovery/claim.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadObject(ctx, "recovery/claim.json"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReadObject after delete: %v", err)
	}
}

// testOpenFails: each bad target is refused by Open with an error that
// names the target's problem.
func testOpenFails(t *testing.T, bad []badTarget) {
	for _, b := range bad {
		s, err := Open(context.Background(), b.target)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open(%s) succeeded", b.what, b.target)
			continue
		}
		if (b.err != nil && !errors.Is(err, b.err)) || !strings.Contains(err.Error(), b.says) {
			t.Errorf("%s: Open(%s) = %v; want %v saying %q", b.what, b.target, err, b.err, b.says)
		}
		if strings.Contains(err.Error(), "secret@") {
			t.Errorf("%s: the error repeats the credentials: %v", b.what, err)
		}
	}
}

// TestWrongCredentialsAreRefused: a key the S3 server does not know, and a
// known key with the wrong secret, each fail Open with ErrAccessDenied.
func TestWrongCredentialsAreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts SeaweedFS")
	}
	srv := s3test.Start(t, s3test.Options{})
	srv.SetEnv(t)
	for _, c := range []struct{ what, key, secret string }{
		{"an unknown key", "AKIDUNKNOWN", srv.SecretKey},
		{"a wrong secret", srv.AccessKey, "wrong-secret"},
	} {
		t.Setenv("AWS_ACCESS_KEY_ID", c.key)
		t.Setenv("AWS_SECRET_ACCESS_KEY", c.secret)
		_, err := Open(context.Background(), srv.URL("etcd"))
		if !errors.Is(err, ErrAccessDenied) || !strings.Contains(err.Error(), "check the credentials") {
			t.Errorf("%s: Open = %v", c.what, err)
		}
	}
}
