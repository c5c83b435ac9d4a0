package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/internal/roundstate"
	"github.com/etcdboot/etcdboot/internal/snapshot"
	"github.com/etcdboot/etcdboot/spec"
)

// Options say where the node's payload and state are, and how often to run.
type Options struct {
	// PayloadPath is the node payload (node.yaml), outside Root.
	PayloadPath string
	// Root prefixes every path the payload names: "" on a real node.
	Root string
	// StateDir holds StateFile and the round lock.
	StateDir string
	// Endpoint is this member's client URL; by default the payload node's
	// first address, or 127.0.0.1 for a launch payload.
	Endpoint string
	// Every, when set, runs a round every Every until ctx ends or Rounds
	// rounds ran (exec mode, tests); zero runs one round (the timer's case).
	Every  time.Duration
	Rounds int
	Logger *slog.Logger
	// Now is the clock; tests may set it.
	Now func() time.Time
}

// ErrRoundFailed is wrapped by the error of a round that failed.
var ErrRoundFailed = errors.New("backup round failed")

// Run runs one backup round, or with Every a round every Every, and records
// each in the state file. A member that is not the writer records
// "skipped" and succeeds. It fails when a round fails; with Every it keeps
// going and fails at the end, naming how many rounds failed and the last
// error.
func Run(ctx context.Context, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Every <= 0 {
		_, err := RunRound(ctx, opts)
		return err
	}
	var failed, ran int
	var last error
	tick := time.NewTicker(opts.Every)
	defer tick.Stop()
rounds:
	for {
		if _, err := RunRound(ctx, opts); err != nil {
			failed, last = failed+1, err
			opts.Logger.Error("backup round failed", "err", err)
		}
		ran++
		if opts.Rounds > 0 && ran >= opts.Rounds {
			break
		}
		select {
		case <-ctx.Done():
			break rounds
		case <-tick.C:
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d backup rounds failed; the last: %w", failed, ran, last)
	}
	return nil
}

// RunRound runs one round and records it in the state file.
func RunRound(ctx context.Context, opts Options) (Round, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	unlock, err := lockRounds(opts.StateDir)
	if err != nil {
		return Round{}, err
	}
	defer unlock()
	r := Round{Started: opts.Now()}
	err = runRound(ctx, opts, &r)
	r.Finished = opts.Now()
	switch {
	case err != nil:
		r.Result, r.Error = ResultFailed, err.Error()
	case r.Snapshot == "":
		r.Result = ResultSkipped
	default:
		r.Result = ResultOK
	}
	if rerr := recordRound(opts.StateDir, r); rerr != nil {
		err = errors.Join(err, rerr)
	}
	log := opts.Logger.With("member", r.Member, "result", r.Result)
	switch r.Result {
	case ResultOK:
		log.Info("backup written", "snapshot", r.Snapshot, "revision", r.Revision, "keys", r.TotalKeys, "pruned", len(r.Pruned), "reason", r.Reason)
	case ResultSkipped:
		log.Info("backup skipped", "reason", r.Reason)
	}
	if err != nil {
		return r, fmt.Errorf("%w: %w", ErrRoundFailed, err)
	}
	return r, nil
}

// node is what a round needs from the payload, with paths under Root.
type node struct {
	etcdconfig.LocalMember
	backup spec.Backup
	dir    string
}

func loadNode(opts Options) (node, error) {
	l, err := etcdconfig.LoadLocalMember(opts.PayloadPath, opts.Root, opts.Endpoint)
	if err != nil {
		return node{}, err
	}
	if l.Payload.Backup == nil {
		return node{}, etcdconfig.MissingSection(opts.PayloadPath, "backup")
	}
	b := *l.Payload.Backup
	b.ApplyDefaults()
	return node{LocalMember: l, backup: b, dir: etcdconfig.Path(opts.Root, b.Dir)}, nil
}

// runRound fills r: the writer decision, then, for the writer, the snapshot,
// its verification, the trial restore, pruning and the upload.
func runRound(ctx context.Context, opts Options, r *Round) error {
	n, err := loadNode(opts)
	if err != nil {
		return err
	}
	tlsConf, err := n.TLS.ClientConfig()
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{n.Endpoint}, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("connect to this member at %s: %w", n.Endpoint, err)
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := cli.Status(sctx, n.Endpoint)
	if err != nil {
		return fmt.Errorf("status of this member at %s: %w; is etcd running?", n.Endpoint, err)
	}
	ml, err := cli.MemberList(sctx)
	if err != nil {
		return fmt.Errorf("member list from %s: %w", n.Endpoint, err)
	}
	names := map[uint64]string{}
	for _, m := range ml.Members {
		names[m.ID] = m.Name
	}
	r.Member = names[st.Header.MemberId]
	r.ClusterID, r.EtcdVersion = fmt.Sprintf("%x", st.Header.ClusterId), st.Version
	d, err := Decide(Observed{Writer: n.backup.Writer, SelfID: st.Header.MemberId, LeaderID: st.Leader, SelfIsLearner: st.IsLearner, Names: names})
	if err != nil {
		return err
	}
	r.Reason = d.Reason
	if !d.Write {
		return nil
	}
	return write(ctx, opts, n, r)
}

// write takes, verifies, test-restores, uploads (to backup.target, then
// with the upload hook) and prunes the snapshot.
func write(ctx context.Context, opts Options, n node, r *Round) error {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return fmt.Errorf("backup.dir: %w", err)
	}
	path := filepath.Join(n.dir, Name(n.Payload.Cluster, r.Started))
	info, err := snapshot.Save(ctx, snapshot.SaveOptions{Endpoints: []string{n.Endpoint}, TLS: n.TLS, Output: path})
	if err != nil {
		return err
	}
	r.Snapshot, r.SHA256, r.Revision, r.TotalKeys, r.Size = path, info.SHA256, info.Revision, info.TotalKeys, info.TotalSize
	if err := verify(path, info); err != nil {
		r.Snapshot = "" // not a good snapshot; it stays on disk for a look
		return err
	}
	if n.backup.TestRestore {
		got, err := snapshot.TrialRestore(path, info.SHA256, n.dir)
		if err != nil {
			return err
		}
		r.TrialRestore = &TrialResult{Revision: got.Revision, TotalKeys: got.TotalKeys,
			Match: got.Revision == info.Revision && got.TotalKeys == info.TotalKeys}
		if !r.TrialRestore.Match {
			return fmt.Errorf("trial restore of %s: the restored member has revision %d and %d keys, the snapshot had %d and %d when it was taken",
				path, got.Revision, got.TotalKeys, info.Revision, info.TotalKeys)
		}
	}
	if n.backup.Target != "" {
		if err := uploadToTarget(ctx, n, path, info, r, opts.Logger); err != nil {
			return err
		}
	}
	pruned, err := prune(n.dir, n.Payload.Cluster, n.backup.Retention)
	r.Pruned = pruned
	if err != nil {
		return err
	}
	if len(n.backup.Upload) > 0 {
		if err := upload(ctx, n.backup, path, info, opts.Logger); err != nil {
			return err
		}
		r.Uploaded = true
	}
	return nil
}

// verify reads the written snapshot back from its final place: etcd's
// appended hash and bbolt's check (snapshot.Status), the same sha256,
// revision and key count as when it was written, and the sha256 file beside
// it. (The revision is not compared with the member's: etcdutl reads it from
// the newest key, which compaction may leave behind the store's revision.)
func verify(path string, saved snapshot.Info) error {
	got, err := snapshot.Status(path)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if got.SHA256 != saved.SHA256 || got.Revision != saved.Revision || got.TotalKeys != saved.TotalKeys {
		return fmt.Errorf("verify %s: it reads back as sha256 %s, revision %d, %d keys, but was written as %s, %d, %d; check the disk",
			path, got.SHA256, got.Revision, got.TotalKeys, saved.SHA256, saved.Revision, saved.TotalKeys)
	}
	sumFile, err := os.ReadFile(path + ".sha256")
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if want := got.SHA256 + "  " + filepath.Base(path) + "\n"; string(sumFile) != want {
		return fmt.Errorf("verify: %s.sha256 says %q, the file's sha256 is %s", path, strings.TrimSpace(string(sumFile)), got.SHA256)
	}
	return nil
}

// prune removes the snapshots retention does not keep, with their .sha256
// files, and returns their names.
func prune(dir, cluster string, keep int) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	var removed []string
	var errs []error
	for _, name := range Prune(cluster, names, keep) {
		p := filepath.Join(dir, name)
		if err := os.Remove(p); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(p + ".sha256"); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		removed = append(removed, name)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("prune %s: %w", dir, errors.Join(errs...))
	}
	return removed, nil
}

// ErrRoundRunning is returned when another backup round of this node holds
// the state dir's round lock.
var ErrRoundRunning = errors.New("another backup round of this node is running")

// lockRounds takes the state dir's round lock, so a timer's round and a
// manual one never write at once.
func lockRounds(stateDir string) (func(), error) {
	return roundstate.Lock(stateDir, "backup.lock", ErrRoundRunning)
}
