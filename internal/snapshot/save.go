package snapshot

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/internal/atomicfile"
	"github.com/etcdboot/etcdboot/internal/status"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
)

// SaveOptions say where a snapshot comes from and where it goes.
type SaveOptions struct {
	// Endpoints are client URLs. A snapshot is one member's point-in-time
	// state, so it is taken from one: the first healthy one, as etcdboot
	// status judges health; a single endpoint is used once it answers, even
	// without a leader.
	Endpoints []string
	// TLS is the CA and client certificate (the admin certificate); empty
	// for plain http:// endpoints.
	TLS tlsfiles.Files
	// Output is the snapshot file; Output+".sha256" receives its digest in
	// sha256sum's format.
	Output string
	// Progress receives a progress line while the snapshot streams, only
	// when it is a terminal; nil for none.
	Progress io.Writer
}

// probeTimeout bounds the questions that pick an endpoint.
const probeTimeout = 5 * time.Second

// Save streams a snapshot from one member into a temporary file beside
// Output, fsyncs it, checks it with Status (whole database, etcd's appended
// sha256, bbolt's consistency check) and only then renames it to Output, so
// a failed or interrupted save never replaces a good file. It writes
// Output.sha256 last and returns the snapshot's Info.
func Save(ctx context.Context, opts SaveOptions) (Info, error) {
	if opts.Output == "" {
		return Info{}, errors.New("save snapshot: no output file given")
	}
	if st, err := os.Stat(opts.Output); err == nil && st.IsDir() {
		return Info{}, fmt.Errorf("save snapshot: %s is a directory; give a file name such as %s", opts.Output, filepath.Join(opts.Output, "snapshot.db"))
	}
	var tlsConf *tls.Config
	if opts.TLS != (tlsfiles.Files{}) {
		var err error
		if tlsConf, err = opts.TLS.ClientConfig(); err != nil {
			return Info{}, fmt.Errorf("save snapshot: %w", err)
		}
	}
	endpoint, err := pickEndpoint(ctx, opts.Endpoints, opts.TLS)
	if err != nil {
		return Info{}, fmt.Errorf("save snapshot: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsConf, DialTimeout: probeTimeout, Logger: zap.NewNop()})
	if err != nil {
		return Info{}, fmt.Errorf("save snapshot from %s: %w", endpoint, err)
	}
	defer cli.Close()

	dir, base := filepath.Dir(opts.Output), filepath.Base(opts.Output)
	tmp, err := os.CreateTemp(dir, "."+base+".part-*")
	if err != nil {
		return Info{}, fmt.Errorf("save snapshot: %w", err)
	}
	renamed := false
	defer func() {
		tmp.Close()
		if !renamed {
			os.Remove(tmp.Name())
		}
	}()
	if err := receive(ctx, cli, endpoint, tmp, opts.Progress); err != nil {
		return Info{}, fmt.Errorf("save snapshot from %s: %w", endpoint, err)
	}
	info, err := Status(tmp.Name())
	if err != nil {
		return Info{}, fmt.Errorf("the snapshot %s sent does not verify, nothing was replaced: %w", endpoint, err)
	}
	if err := os.Rename(tmp.Name(), opts.Output); err != nil {
		return Info{}, fmt.Errorf("save snapshot: %w", err)
	}
	renamed = true
	syncDir(dir)
	info.Path = opts.Output
	if err := writeChecksumFile(opts.Output, info.SHA256); err != nil {
		return info, fmt.Errorf("save snapshot: %w", err)
	}
	return info, nil
}

// receive copies the snapshot stream into f and fsyncs it.
func receive(ctx context.Context, cli *clientv3.Client, endpoint string, f *os.File, progressTo io.Writer) error {
	resp, err := cli.SnapshotWithVersion(ctx)
	if err != nil {
		return fmt.Errorf("request snapshot: %w", err)
	}
	defer resp.Snapshot.Close()
	var src io.Reader = resp.Snapshot
	var p *progress
	if isTerminal(progressTo) {
		p = &progress{w: progressTo, r: src, from: endpoint, start: time.Now()}
		src = p
	}
	if _, err := io.Copy(f, src); err != nil {
		return fmt.Errorf("receive snapshot: %w", err)
	}
	if p != nil {
		p.finish()
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", f.Name(), err)
	}
	return nil
}

// pickEndpoint chooses the member to snapshot. One endpoint is taken as
// given once it answers at all: after a loss of quorum, a member without a
// leader still holds the best copy there is. Of several, the first healthy
// one is taken, asked as `etcdboot status` asks (concurrently, with its
// diagnosis of endpoints that do not answer).
func pickEndpoint(ctx context.Context, endpoints []string, files tlsfiles.Files) (string, error) {
	if len(endpoints) == 0 {
		return "", errors.New("no endpoints; give at least one client URL such as https://10.0.0.1:2379")
	}
	rep, err := status.Check(ctx, status.Options{Endpoints: endpoints, CAFile: files.CAFile, CertFile: files.CertFile, KeyFile: files.KeyFile, Timeout: probeTimeout})
	if err != nil && !errors.Is(err, status.ErrNoAnswer) {
		return "", err
	}
	var problems []string
	for _, e := range rep.Endpoints {
		if e.Healthy || (len(endpoints) == 1 && e.ID != "") {
			return e.Endpoint, nil
		}
		problems = append(problems, fmt.Sprintf("%s: %s", e.Endpoint, e.Error))
	}
	hint := "check the cluster with etcdboot status"
	if len(endpoints) > 1 {
		hint += "; to snapshot a member that lost quorum, give only its endpoint"
	}
	return "", fmt.Errorf("no endpoint can give a snapshot: %s; %s", strings.Join(problems, "; "), hint)
}

// writeChecksumFile writes path.sha256 as sha256sum does, so that
// `sha256sum -c` run beside the snapshot checks it.
func writeChecksumFile(path, sum string) error {
	line := sum + "  " + filepath.Base(path) + "\n"
	return atomicfile.Write(path+".sha256", []byte(line), 0o644)
}

// progress reports bytes received and the rate on a terminal, a line
// rewritten in place at most four times a second.
type progress struct {
	w           io.Writer
	r           io.Reader
	from        string
	n           int64
	start, last time.Time
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= 250*time.Millisecond {
		p.last = now
		p.print("")
	}
	return n, err
}

func (p *progress) finish() { p.print("\n") }

func (p *progress) print(end string) {
	secs := time.Since(p.start).Seconds()
	rate := ""
	if secs > 0 {
		rate = ", " + humanBytes(int64(float64(p.n)/secs)) + "/s"
	}
	fmt.Fprintf(p.w, "\rsnapshot from %s: %s in %.1fs%s\x1b[K%s", p.from, humanBytes(p.n), secs, rate, end)
}

// isTerminal reports whether w is a character device such as a terminal;
// pipes and files get no progress line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
