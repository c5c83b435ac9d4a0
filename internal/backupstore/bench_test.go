package backupstore

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/etcdtest"
	"github.com/etcdboot/etcdboot/internal/s3test"
	"github.com/etcdboot/etcdboot/internal/snapshot"
)

// A snapshot of about 100 MB: benchKeys values of benchValueSize bytes.
const (
	benchKeys      = 25000
	benchValueSize = 4096
)

// benchSnapshot saves a snapshot of a member holding the benchmark's keys.
func benchSnapshot(b *testing.B) (string, snapshot.Info) {
	b.Helper()
	out := b.TempDir()
	if _, err := generate.Run(generate.Options{SpecPath: etcdtest.ThreeNodeSpec(b), OutDir: out}); err != nil {
		b.Fatal(err)
	}
	src := etcdtest.Start(b, etcdtest.Member{PKIDir: filepath.Join(out, "pki"), DataDir: filepath.Join(b.TempDir(), "source")})
	cli := src.Client(b)
	etcdtest.PutKeys(b, cli, benchKeys, benchValueSize)
	cli.Close()
	path := filepath.Join(b.TempDir(), "snap.db")
	info, err := snapshot.Save(context.Background(), snapshot.SaveOptions{Endpoints: []string{src.Endpoint}, TLS: src.TLS, Output: path})
	if err != nil {
		b.Fatal(err)
	}
	src.Stop()
	return path, info
}

// BenchmarkStoreUploadAndRestore uploads a 100 MB snapshot to a real S3
// server as a backup (Put: sha256, object, sum, manifest) against a plain
// upload of the same file with the same client library, and restores it
// from the store (Fetch: download, size, sha256, etcd's hash, revision and
// keys checked; then Restore) against a plain download and `etcdutl
// snapshot restore`, alternating in the same run. speed-vs-plain-upload and
// speed-vs-download+etcdutl are ratios of throughput (above 1: ours is
// faster).
func BenchmarkStoreUploadAndRestore(b *testing.B) {
	snap, info := benchSnapshot(b)
	etcdutl := etcdtest.Binary(b, "etcdutl")
	srv := s3test.Start(b, s3test.Options{})
	for _, kv := range srv.Env() {
		k, v, _ := cutEnv(kv)
		b.Setenv(k, v)
	}
	b.Setenv("AWS_CONFIG_FILE", filepath.Join(srv.Dir, "none"))
	b.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(srv.Dir, "none"))
	ctx := context.Background()
	s, err := Open(ctx, srv.URL("bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// The server's first large write allocates its volumes (seconds on
	// SeaweedFS): take it before anything is timed.
	if err := plainUpload(ctx, s, snap, "warm-up.db"); err != nil {
		b.Fatal(err)
	}
	peer := etcdtest.PeerURL(2380)
	dir := b.TempDir()
	var putOurs, putPlain, restOurs, restPlain time.Duration
	for i := 0; i < b.N; i++ {
		var m Manifest
		ours := func() error {
			var err error
			m, err = s.Put(ctx, snap, Manifest{Cluster: "bench", Taken: time.Now().Add(time.Duration(i) * time.Second), Revision: info.Revision,
				TotalKeys: info.TotalKeys, Hash: info.Hash, Verified: true})
			return err
		}
		plain := func() error { return plainUpload(ctx, s, snap, fmt.Sprintf("plain/%d.db", i)) }
		if i%2 == 0 {
			putOurs += timedB(b, "Put", ours)
			putPlain += timedB(b, "plain upload", plain)
		} else {
			putPlain += timedB(b, "plain upload", plain)
			putOurs += timedB(b, "Put", ours)
		}
		oursDir, plainDir := filepath.Join(dir, fmt.Sprint("ours-", i)), filepath.Join(dir, fmt.Sprint("plain-", i))
		restoreOurs := func() error {
			local := filepath.Join(dir, fmt.Sprint("fetched-", i, ".db"))
			if _, _, err := s.Fetch(ctx, m.Name, local, Expect{Cluster: "bench"}); err != nil {
				return err
			}
			return snapshot.Restore(snapshot.RestoreOptions{Snapshot: local, SHA256: m.SHA256, Name: "etcd1", InitialCluster: "etcd1=" + peer,
				InitialClusterToken: "bench", InitialAdvertisePeerURLs: []string{peer}, DataDir: oursDir})
		}
		restorePlain := func() error {
			local := filepath.Join(dir, fmt.Sprint("downloaded-", i, ".db"))
			if err := plainDownload(ctx, s, fmt.Sprintf("plain/%d.db", i), local); err != nil {
				return err
			}
			out, err := exec.Command(etcdutl, "snapshot", "restore", local, "--name", "etcd1", "--initial-cluster", "etcd1="+peer,
				"--initial-cluster-token", "bench", "--initial-advertise-peer-urls", peer, "--data-dir", plainDir).CombinedOutput()
			if err != nil {
				return fmt.Errorf("etcdutl snapshot restore: %w: %s", err, out)
			}
			return nil
		}
		if i%2 == 0 {
			restOurs += timedB(b, "Fetch and Restore", restoreOurs)
			restPlain += timedB(b, "download and etcdutl", restorePlain)
		} else {
			restPlain += timedB(b, "download and etcdutl", restorePlain)
			restOurs += timedB(b, "Fetch and Restore", restoreOurs)
		}
		os.RemoveAll(oursDir)
		os.RemoveAll(plainDir)
	}
	st, err := os.Stat(snap)
	if err != nil {
		b.Fatal(err)
	}
	mb := func(took time.Duration) float64 { return float64(st.Size()) * float64(b.N) / 1e6 / took.Seconds() }
	b.ReportMetric(mb(putOurs), "upload-MB/s")
	b.ReportMetric(mb(putOurs)/mb(putPlain), "speed-vs-plain-upload")
	b.ReportMetric(mb(restOurs), "restore-MB/s")
	b.ReportMetric(mb(restOurs)/mb(restPlain), "speed-vs-download+etcdutl")
	fmt.Printf("%.0f MB snapshot: upload %.1f MB/s (plain %.1f, ratio %.2f); restore from the store %.1f MB/s (download+etcdutl %.1f, ratio %.2f)\n",
		float64(st.Size())/1e6, mb(putOurs), mb(putPlain), mb(putOurs)/mb(putPlain), mb(restOurs), mb(restPlain), mb(restOurs)/mb(restPlain))
}

func cutEnv(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

func timedB(b *testing.B, what string, f func() error) time.Duration {
	b.Helper()
	start := time.Now()
	if err := f(); err != nil {
		b.Fatalf("%s: %v", what, err)
	}
	return time.Since(start)
}

// plainUpload copies path to key with the store's bucket, nothing else.
func plainUpload(ctx context.Context, s *Store, path, key string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := s.bucket.NewWriter(ctx, key, nil)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// plainDownload copies key to path with the store's bucket, nothing else.
func plainDownload(ctx context.Context, s *Store, key, path string) error {
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
