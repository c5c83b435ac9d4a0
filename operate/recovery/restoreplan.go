package recovery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/etcdboot/etcdboot/generate"
	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/spec"
)

// RestorePlan is `etcdboot restore plan`: from a snapshot file
// (opts.Snapshot, from empty) it is generate.RestorePlan; with from, it
// fetches the backup
// (Latest: the newest verified one of the spec's cluster in its
// backup.target; a backup's name there; or a backup's object URL), checked
// as a restore would (size, sha256, etcd's hash, revision, keys), into
// out/restore/, then writes the restore payloads from it as
// generate.RestorePlan does from a file.
func RestorePlan(ctx context.Context, opts generate.RestoreOptions, from string) (*generate.Result, error) {
	if (from == "") == (opts.Snapshot == "") {
		return nil, fmt.Errorf("restore plan: give --snapshot FILE or --from latest|BACKUP|OBJECT-URL, one of them")
	}
	if from == "" {
		return generate.RestorePlan(opts)
	}
	c, _, err := spec.LoadCluster(opts.SpecPath)
	if err != nil {
		return nil, err
	}
	target, name := "", from
	if strings.Contains(from, "://") {
		if target, name, err = backupstore.SplitObjectURL(from); err != nil {
			return nil, err
		}
	} else {
		if c.Backup == nil || c.Backup.Target == "" {
			return nil, fmt.Errorf("%s: backup.target is not set: give --from a backup's object URL, or --snapshot a file", opts.SpecPath)
		}
		target = c.Backup.Target
	}
	store, err := backupstore.Open(ctx, target)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	if name == Latest {
		l, err := store.List(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		v := l.Verified()
		if len(v) == 0 {
			return nil, fmt.Errorf("backup target %s holds no verified backup of cluster %s (etcdboot backup list --target ... shows what is there)", store.Target(), c.Name)
		}
		name = v[0].Name
	}
	dir := filepath.Join(opts.OutDir, "restore")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	opts.Snapshot = filepath.Join(dir, name+".db")
	if _, _, err := store.Fetch(ctx, name, opts.Snapshot, backupstore.Expect{Cluster: c.Name}); err != nil {
		return nil, err
	}
	return generate.RestorePlan(opts)
}
