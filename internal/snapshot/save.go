package snapshot

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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

// streamWindow is the gRPC flow-control window of the connection a snapshot
// streams over. gRPC's default starts at 64 KiB, two of etcd's 32 KiB
// messages, and on a loaded machine etcd then waits for every window update;
// a fixed window disables gRPC's estimate, so it is set to what the estimate
// may grow to (16 MiB). The client only buffers what it has not read yet.
const streamWindow = 16 << 20

// Save streams a snapshot from one member into a temporary file beside
// Output, hashing it on the way (etcd's appended sha256 and the file's own
// digest, in one pass), then checks the database in a child process
// (bbolt's consistency check, as Status does) while the file and its
// .sha256 are fsynced, and only then renames them into place, so a failed
// or interrupted save never replaces a good file. It returns the snapshot's
// Info.
//
// Beyond what `etcdctl snapshot save` does (stream, fsync, rename), Save
// verifies, so it hides what verifying costs behind what must happen anyway:
// the child starts before the stream and waits for the file, and the two
// fsyncs run together with the check, one directory fsync for both renames.
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
	check := startDBCheck()
	defer check.abandon()
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
	var sumTmp string
	renamed := false
	defer func() {
		tmp.Close()
		if !renamed {
			os.Remove(tmp.Name())
		}
		if sumTmp != "" {
			os.Remove(sumTmp)
		}
	}()
	digest, err := receive(ctx, cli, endpoint, tmp, opts.Progress)
	if err != nil {
		return Info{}, fmt.Errorf("save snapshot from %s: %w", endpoint, err)
	}
	info, sumTmp, err := checkReceived(tmp, digest, check, opts.Output)
	if err != nil {
		return Info{}, fmt.Errorf("the snapshot %s sent does not verify, nothing was replaced: %w", endpoint, err)
	}
	if err := os.Rename(tmp.Name(), opts.Output); err != nil {
		return Info{}, fmt.Errorf("save snapshot: %w", err)
	}
	renamed = true
	info.Path = opts.Output
	err = os.Rename(sumTmp, opts.Output+".sha256")
	if err == nil {
		sumTmp = ""
	}
	syncDir(dir)
	if err != nil {
		return info, fmt.Errorf("save snapshot: write %s.sha256: %w", opts.Output, err)
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
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, TLS: tlsConf, DialTimeout: probeTimeout, Logger: zap.NewNop(),
			DialOptions: []grpc.DialOption{grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(streamWindow)}})
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

// receiveQueue is how many of etcd's messages (32 KiB each) may wait
// between the stream and the file: the stream is read as fast as it comes,
// so gRPC's flow control never holds etcd back while the file is written
// and hashed, as etcdctl's pipe lets it read one message ahead.
const receiveQueue = 64

// receive writes the snapshot stream into f as it arrives, each message's
// bytes straight from gRPC (no copy between), and hashes them on the way: a
// goroutine writes and hashes while the stream goes on.
func receive(ctx context.Context, cli *clientv3.Client, endpoint string, f *os.File, progressTo io.Writer) (*Digest, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Snapshot(ctx, &pb.SnapshotRequest{}, grpc.MaxCallRecvMsgSize(math.MaxInt32))
	if err != nil {
		return nil, fmt.Errorf("request snapshot: %w", err)
	}
	var p *progress
	if isTerminal(progressTo) {
		p = &progress{w: progressTo, from: endpoint, start: time.Now()}
	}
	digest := NewDigest()
	blobs := make(chan []byte, receiveQueue)
	var writeErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for b := range blobs {
			if writeErr != nil {
				continue
			}
			if _, writeErr = f.Write(b); writeErr != nil {
				cancel()
				continue
			}
			digest.Write(b)
		}
	})
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			close(blobs)
			wg.Wait()
			return nil, fmt.Errorf("receive snapshot: %w", cmp.Or(writeErr, err))
		}
		blobs <- resp.Blob
		if p != nil {
			p.add(len(resp.Blob))
		}
	}
	close(blobs)
	wg.Wait()
	if writeErr != nil {
		return nil, fmt.Errorf("receive snapshot: %w", writeErr)
	}
	if p != nil {
		p.finish()
	}
	return digest, nil
}

// checkReceived checks what receive wrote: the sha256 etcd appended must be
// that of the database before it, and the database must pass the check
// Status runs, in the child check (a damaged page panics bbolt). Meanwhile
// f is fsynced and closed, and output's .sha256 is written to a temporary
// file beside it and fsynced, whose name it returns for the caller to
// rename into place.
func checkReceived(f *os.File, digest *Digest, check *dbCheck, output string) (Info, string, error) {
	path := f.Name()
	info := Info{Path: path}
	sum, err := digest.Verify(path)
	if err != nil {
		return info, "", err
	}
	info.SHA256 = sum
	var syncErr, sumErr error
	var sumTmp string
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
	wg.Go(func() { sumTmp, sumErr = writeChecksumTemp(output, sum) })
	st, err := check.status(path)
	wg.Wait()
	if err != nil {
		err = &IntegrityError{Path: path, Kind: ErrCorrupt, Problem: oneLine(err.Error())}
	}
	if err = cmp.Or(err, syncErr, sumErr); err != nil {
		if sumTmp != "" {
			os.Remove(sumTmp)
		}
		return info, "", err
	}
	info.Hash, info.Revision, info.TotalKeys, info.TotalSize, info.Version = st.Hash, st.Revision, st.TotalKey, st.TotalSize, st.Version
	return info, sumTmp, nil
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
	return atomicfile.Write(path+".sha256", checksumLine(path, sum), 0o644)
}

// checksumLine is path's line in sha256sum's format.
func checksumLine(path, sum string) []byte {
	return []byte(sum + "  " + filepath.Base(path) + "\n")
}

// writeChecksumTemp writes path.sha256's content to a temporary file beside
// it, fsynced, and returns its name: renaming it is the caller's.
func writeChecksumTemp(path, sum string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".sha256.tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %s.sha256: %w", path, err)
	}
	_, err = f.Write(checksumLine(path, sum))
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write %s.sha256: %w", path, err)
	}
	return f.Name(), nil
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
