package ignition

import (
	"fmt"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/etcdboot/etcdboot/images"
	"github.com/etcdboot/etcdboot/internal/atomicfile"
	"github.com/etcdboot/etcdboot/spec"
)

// WriteTree places the bundle under root the way cloud-init or Ignition would
// on a node: node.yaml, every file with its mode and the backup and
// maintenance timers' drop-ins. Owners are left to the caller (root
// directories in tests and image builds need no etcd user).
// /etc/hosts is not touched: a tree shares the host's name resolution.
func (b Bundle) WriteTree(root string) error {
	path := b.PayloadPath
	if path == "" {
		path = spec.DefaultPayloadPath
	}
	payload, err := yaml.Marshal(b.Payload)
	if err != nil {
		return fmt.Errorf("encode payload: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(root, path), payload, 0o600); err != nil {
		return err
	}
	dropIn, err := b.backupDropIn()
	if err != nil {
		return fmt.Errorf("backup timer: %w", err)
	}
	if dropIn != nil {
		if err := atomicfile.Write(filepath.Join(root, images.BackupTimerDropInPath), dropIn, 0o644); err != nil {
			return err
		}
	}
	if dropIn, err = b.maintenanceDropIn(); err != nil {
		return fmt.Errorf("maintenance timer: %w", err)
	}
	if dropIn != nil {
		if err := atomicfile.Write(filepath.Join(root, images.MaintenanceTimerDropInPath), dropIn, 0o644); err != nil {
			return err
		}
	}
	for _, f := range b.Files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
			if f.Secret {
				mode = 0o600
			}
		}
		if err := atomicfile.Write(filepath.Join(root, f.Path), f.Contents, mode); err != nil {
			return err
		}
	}
	return nil
}
