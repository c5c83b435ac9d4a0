package snapshot_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/snapshot"
)

// benchKeys of benchValueSize bytes make a database of about 20 MB.
const (
	benchKeys      = 16384
	benchValueSize = 1024
)

// benchSource starts a member holding the benchmark's keys.
func benchSource(b *testing.B) *etcdtest.Etcd {
	b.Helper()
	etcdtest.Binary(b, "etcd")
	src := etcdtest.Start(b, etcdtest.Member{PKIDir: generatedPKI(b), DataDir: filepath.Join(b.TempDir(), "source")})
	cli := src.Client(b)
	defer cli.Close()
	etcdtest.PutKeys(b, cli, benchKeys, benchValueSize)
	return src
}

// timed runs f and returns how long it took, failing the benchmark on error.
func timed(b *testing.B, what string, f func() error) time.Duration {
	b.Helper()
	start := time.Now()
	if err := f(); err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	return time.Since(start)
}

func run(name string, args ...string) func() error {
	return func() error {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %v: %w: %s", filepath.Base(name), args, err, out)
		}
		return nil
	}
}

// BenchmarkSnapshotSave times Save (stream, fsync, full verification,
// rename, .sha256) against `etcdctl snapshot save` of the same member in
// the same run. MB/s is Save's; etcdctl-MB/s is etcdctl's, and
// speed-vs-etcdctl is their ratio (above 1: Save is faster). check-ms is
// the part of save-ms that etcdctl has no counterpart for: bbolt's check
// of the database, timed alone on the saved file.
func BenchmarkSnapshotSave(b *testing.B) {
	src := benchSource(b)
	etcdctl := etcdtest.Binary(b, "etcdctl")
	dir := b.TempDir()
	ours, theirs := filepath.Join(dir, "etcdboot.db"), filepath.Join(dir, "etcdctl.db")
	save := func() error {
		_, err := snapshot.Save(context.Background(), snapshot.SaveOptions{Endpoints: []string{src.Endpoint}, TLS: src.TLS, Output: ours})
		return err
	}
	ctl := run(etcdctl, "--endpoints", src.Endpoint, "--cacert", src.TLS.CAFile, "--cert", src.TLS.CertFile, "--key", src.TLS.KeyFile,
		"snapshot", "save", theirs)
	var oursTook, theirsTook time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternate who goes first, so neither always finds a warm cache.
		if i%2 == 1 {
			b.StopTimer()
			theirsTook += timed(b, "etcdctl snapshot save", ctl)
			b.StartTimer()
		}
		oursTook += timed(b, "Save", save)
		if i%2 == 0 {
			b.StopTimer()
			theirsTook += timed(b, "etcdctl snapshot save", ctl)
			b.StartTimer()
		}
	}
	b.StopTimer()
	reportAgainst(b, ours, theirs, "etcdctl", oursTook, theirsTook)
	// What Save does that etcdctl does not: bbolt's consistency check of
	// the received database, in a child process (CheckDatabase, as Save
	// runs it; the sha256 passed is only echoed back).
	var checkTook time.Duration
	for i := 0; i < b.N; i++ {
		checkTook += timed(b, "CheckDatabase", func() error {
			_, err := snapshot.CheckDatabase(ours, "")
			return err
		})
	}
	b.ReportMetric(float64((checkTook / time.Duration(b.N)).Milliseconds()), "check-ms")
	b.ReportMetric(float64((oursTook / time.Duration(b.N)).Milliseconds()), "save-ms")
}

// BenchmarkSnapshotRestore times Restore (sha256 check, etcdutl's restore
// library, fsync, rename) against `etcdutl snapshot restore` of the same
// snapshot in the same run; the metrics are named as in
// BenchmarkSnapshotSave, against etcdutl.
func BenchmarkSnapshotRestore(b *testing.B) {
	src := benchSource(b)
	etcdutl := etcdtest.Binary(b, "etcdutl")
	dir := b.TempDir()
	snap := filepath.Join(dir, "snap.db")
	info, err := snapshot.Save(context.Background(), snapshot.SaveOptions{Endpoints: []string{src.Endpoint}, TLS: src.TLS, Output: snap})
	if err != nil {
		b.Fatal(err)
	}
	src.Stop()
	peer := etcdtest.PeerURL(2380)
	var oursTook, theirsTook time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ours, theirs := filepath.Join(dir, "etcdboot-data"), filepath.Join(dir, "etcdutl-data")
		for _, d := range []string{ours, theirs} {
			if err := os.RemoveAll(d); err != nil {
				b.Fatal(err)
			}
		}
		restore := func() error {
			return snapshot.Restore(snapshot.RestoreOptions{Snapshot: snap, SHA256: info.SHA256, Name: "etcd1",
				InitialCluster: "etcd1=" + peer, InitialClusterToken: "bench", InitialAdvertisePeerURLs: []string{peer}, DataDir: ours})
		}
		utl := run(etcdutl, "snapshot", "restore", snap, "--name", "etcd1", "--initial-cluster", "etcd1="+peer,
			"--initial-cluster-token", "bench", "--initial-advertise-peer-urls", peer, "--data-dir", theirs)
		if i%2 == 1 {
			theirsTook += timed(b, "etcdutl snapshot restore", utl)
		}
		b.StartTimer()
		oursTook += timed(b, "Restore", restore)
		b.StopTimer()
		if i%2 == 0 {
			theirsTook += timed(b, "etcdutl snapshot restore", utl)
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportAgainst(b, snap, snap, "etcdutl", oursTook, theirsTook)
}

// reportAgainst sets MB/s from our file's size and reports the other tool's
// rate and the ratio of the two.
func reportAgainst(b *testing.B, ours, theirs, tool string, oursTook, theirsTook time.Duration) {
	b.Helper()
	st, err := os.Stat(ours)
	if err != nil {
		b.Fatal(err)
	}
	ts, err := os.Stat(theirs)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	mb := func(size int64, took time.Duration) float64 {
		return float64(size) * float64(b.N) / 1e6 / took.Seconds()
	}
	b.ReportMetric(mb(ts.Size(), theirsTook), tool+"-MB/s")
	b.ReportMetric(mb(st.Size(), oursTook)/mb(ts.Size(), theirsTook), "speed-vs-"+tool)
}
