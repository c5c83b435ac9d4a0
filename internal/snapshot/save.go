package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

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
// Output, hashing it on the way (etcd's appended sha256 and the file's own
// digest, in one pass), then checks the database in a child process
// (bbolt's consistency check, as Status does) while the file is fsynced, and
// only then renames it to Output, so a failed or interrupted save never
// replaces a good file. It writes Output.sha256 last and returns the
// snapshot's Info.
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
	cli, endpoint, err := connect(ctx, opts.Endpoints, opts.TLS, tlsConf)
	if err != nil {
		return Info{}, fmt.Errorf("save snapshot: %w", err)
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
	digest, err := receive(ctx, cli, endpoint, tmp, opts.Progress)
	if err != nil {
		return Info{}, fmt.Errorf("save snapshot from %s: %w", endpoint, err)
	}
	info, err := checkReceived(tmp, digest)
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

// connect returns a client of the member to snapshot. A single endpoint is
// asked its status on the connection the snapshot then streams over (etcdctl
// opens one connection too); only when it does not answer, or when there are
// several endpoints to choose from, does pickEndpoint ask as `etcdboot
// status` does.
func connect(ctx context.Context, endpoints []string, files tlsfiles.Files, tlsConf *tls.Config) (*clientv3.Client, string, error) {
	newClient := func(endpoint string) (*clientv3.Client, error) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsConf, DialTimeout: probeTimeout, Logger: zap.NewNop()})
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", endpoint, err)
		}
		return cli, nil
	}
	if len(endpoints) == 1 {
		if cli, err := newClient(endpoints[0]); err == nil {
			sctx, cancel := context.WithTimeout(ctx, probeTimeout)
			_, err = cli.Status(sctx, endpoints[0])
			cancel()
			if err == nil {
				return cli, endpoints[0], nil
			}
			cli.Close()
		}
	}
	endpoint, err := pickEndpoint(ctx, endpoints, files)
	if err != nil {
		return nil, "", err
	}
	cli, err := newClient(endpoint)
	return cli, endpoint, err
}

// receive writes the snapshot stream into f as it arrives, each message's
// bytes straight from gRPC (no pipe between, as the client library's
// Snapshot puts), and hashes them on the way.
func receive(ctx context.Context, cli *clientv3.Client, endpoint string, f *os.File, progressTo io.Writer) (*streamDigest, error) {
	stream, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Snapshot(ctx, &pb.SnapshotRequest{}, grpc.MaxCallRecvMsgSize(math.MaxInt32))
	if err != nil {
		return nil, fmt.Errorf("request snapshot: %w", err)
	}
	var p *progress
	if isTerminal(progressTo) {
		p = &progress{w: progressTo, from: endpoint, start: time.Now()}
	}
	digest := newStreamDigest()
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("receive snapshot: %w", err)
		}
		if _, err := f.Write(resp.Blob); err != nil {
			return nil, fmt.Errorf("receive snapshot: %w", err)
		}
		digest.Write(resp.Blob)
		if p != nil {
			p.add(len(resp.Blob))
		}
	}
	if p != nil {
		p.finish()
	}
	return digest, nil
}

// checkReceived checks what receive wrote: the sha256 etcd appended must be
// that of the database before it, and the database must pass the check
// Status runs, in a child process (a damaged page panics bbolt), meanwhile
// f is fsynced and closed.
func checkReceived(f *os.File, digest *streamDigest) (Info, error) {
	path := f.Name()
	var syncErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		if syncErr = f.Sync(); syncErr != nil {
			syncErr = fmt.Errorf("sync %s: %w", path, syncErr)
			return
		}
		if syncErr = f.Close(); syncErr != nil {
			syncErr = fmt.Errorf("close %s: %w", path, syncErr)
		}
	})
	defer wg.Wait()
	info := Info{Path: path}
	sum, err := digest.verify(path)
	if err != nil {
		return info, err
	}
	info.SHA256 = sum
	st, err := dbStatus(path)
	if err != nil {
		return info, &IntegrityError{Path: path, Kind: ErrCorrupt, Problem: oneLine(err.Error())}
	}
	info.Hash, info.Revision, info.TotalKeys, info.TotalSize, info.Version = st.Hash, st.Revision, st.TotalKey, st.TotalSize, st.Version
	wg.Wait()
	return info, syncErr
}

// streamDigest hashes a snapshot stream as it passes, in one pass: the
// database (every byte but the last hashSize, which are held back) and then,
// from the same state, the whole file.
type streamDigest struct {
	h    hash.Hash
	tail [hashSize]byte
	n    int // bytes held in tail
}

func newStreamDigest() *streamDigest { return &streamDigest{h: sha256.New()} }

// Write hashes p, holding back the last hashSize bytes seen so far.
func (d *streamDigest) Write(p []byte) {
	if len(p) >= hashSize {
		d.h.Write(d.tail[:d.n])
		d.h.Write(p[:len(p)-hashSize])
		d.n = copy(d.tail[:], p[len(p)-hashSize:])
		return
	}
	if over := d.n + len(p) - hashSize; over > 0 {
		d.h.Write(d.tail[:over])
		d.n = copy(d.tail[:], d.tail[over:d.n])
	}
	d.n += copy(d.tail[d.n:], p)
}

// verify checks that the held-back bytes are the sha256 of the bytes before
// them, as etcd appends it to every snapshot it streams, and returns the
// hex sha256 of the whole stream.
func (d *streamDigest) verify(path string) (string, error) {
	if d.n < hashSize {
		return "", &IntegrityError{Path: path, Kind: ErrTruncated, Problem: "the stream ended before the sha256 etcd appends to every snapshot"}
	}
	if want := d.h.Sum(nil); !bytes.Equal(d.tail[:], want) {
		return "", &IntegrityError{Path: path, Kind: ErrCorrupt,
			Problem: fmt.Sprintf("the sha256 of its database is %x, but etcd appended %x when it took the snapshot", want, d.tail[:])}
	}
	d.h.Write(d.tail[:])
	return hex.EncodeToString(d.h.Sum(nil)), nil
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
	from        string
	n           int64
	start, last time.Time
}

func (p *progress) add(n int) {
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= 250*time.Millisecond {
		p.last = now
		p.print("")
	}
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
