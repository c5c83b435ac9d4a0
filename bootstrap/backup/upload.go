package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/snapshot"
	"github.com/etcdboot/etcdboot/spec"
)

// Environment the upload command receives besides the agent's own.
const (
	EnvFile     = "ETCDBOOT_BACKUP_FILE"
	EnvSHA256   = "ETCDBOOT_BACKUP_SHA256"
	EnvRevision = "ETCDBOOT_BACKUP_REVISION"
	EnvKeys     = "ETCDBOOT_BACKUP_KEYS"
)

// outputTail is how much of a failed upload command's output the error keeps.
const outputTail = 2000

// upload runs backup.upload for a verified snapshot, without a shell, in the
// snapshot's directory, with the file and what it holds in its environment,
// bounded by backup.uploadTimeout.
func upload(ctx context.Context, b spec.Backup, path string, info snapshot.Info, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, b.UploadTimeout.Std())
	defer cancel()
	cmd := exec.CommandContext(ctx, b.Upload[0], b.Upload[1:]...)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = append(os.Environ(),
		EnvFile+"="+path,
		EnvSHA256+"="+info.SHA256,
		EnvRevision+"="+strconv.FormatInt(info.Revision, 10),
		EnvKeys+"="+strconv.Itoa(info.TotalKeys))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// A child the command leaves behind must not hold the round forever.
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		text := strings.TrimSpace(out.String())
		if len(text) > outputTail {
			text = "..." + text[len(text)-outputTail:]
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w after backup.uploadTimeout %v", err, b.UploadTimeout)
		}
		return fmt.Errorf("upload command %s for %s: %w; the snapshot is kept in %s; output: %s", b.Upload[0], filepath.Base(path), err, filepath.Dir(path), text)
	}
	log.Info("backup uploaded", "command", b.Upload[0], "snapshot", path, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// uploadToTarget uploads the verified snapshot at path to backup.target as
// a complete backup (object, sha256, then manifest) and applies retention
// in the target, recording the outcome in r.Upload. It is bounded by
// backup.uploadTimeout; the local snapshot stays whatever happens.
func uploadToTarget(ctx context.Context, n node, path string, info snapshot.Info, r *Round, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, n.backup.UploadTimeout.Std())
	defer cancel()
	res := &UploadResult{Target: n.backup.Target}
	r.Upload = res
	err := func() error {
		start := time.Now()
		store, err := backupstore.Open(ctx, n.backup.Target)
		if err != nil {
			return err
		}
		defer store.Close()
		m, err := store.Put(ctx, path, backupstore.Manifest{
			Cluster: n.Payload.Cluster, ClusterID: r.ClusterID, Member: r.Member, Taken: r.Started,
			Revision: info.Revision, TotalKeys: info.TotalKeys, EtcdVersion: r.EtcdVersion, StorageVersion: info.Version,
			Hash: info.Hash, SHA256: info.SHA256, Verified: true, TestRestored: r.TrialRestore != nil && r.TrialRestore.Match,
		})
		res.Name, res.Object = m.Name, m.Object
		if err != nil {
			return err
		}
		res.OK = true
		log.Info("backup uploaded", "target", n.backup.Target, "object", m.Object, "took", time.Since(start).Round(time.Millisecond))
		pruned, err := store.Prune(ctx, n.Payload.Cluster, backupstore.Retention{Keep: n.backup.Retention, MaxAge: n.backup.MaxAge.Std()}, r.Started)
		res.Pruned = pruned
		if err != nil {
			return fmt.Errorf("retention in the target: %w", err)
		}
		return nil
	}()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w after backup.uploadTimeout %v", err, n.backup.UploadTimeout)
		}
		res.Error = err.Error()
		return fmt.Errorf("upload of %s to backup.target: %w; the snapshot is kept in %s", filepath.Base(path), err, filepath.Dir(path))
	}
	return nil
}
