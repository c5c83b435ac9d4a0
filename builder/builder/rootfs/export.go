package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/etcdboot/etcdboot/builder/provisioner/etcdboot"
	"github.com/etcdboot/etcdboot/builder/version"
)

// Names of what the builder writes under output_dir.
const (
	RootfsDir    = "rootfs"
	TarballName  = "rootfs.tar.gz"
	RawImageName = "rootfs.img"
	ManifestName = "manifest.json"
)

// Manifest is manifest.json: what was built, from what, and the digests of
// the exports.
type Manifest struct {
	Builder       string   `json:"builder"`
	PluginVersion string   `json:"plugin_version"`
	BuildName     string   `json:"build_name"`
	Suite         string   `json:"suite"`
	Mirror        string   `json:"mirror"`
	Packages      []string `json:"packages"`
	// EtcdVersion is from the etcdboot provisioner's record; empty when the
	// template did not run it.
	EtcdVersion string `json:"etcd_version,omitempty"`
	// Image is the etcdboot provisioner's full record.
	Image *etcdboot.ImageRecord `json:"image,omitempty"`
	// RootfsBytes is the apparent size of rootfs/.
	RootfsBytes int64          `json:"rootfs_bytes"`
	Files       []ManifestFile `json:"files"`
	Created     time.Time      `json:"created"`
}

// ManifestFile is one export.
type ManifestFile struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// stepExport writes the tarball and raw image when asked, and manifest.json.
type stepExport struct{}

func (s *stepExport) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	c := state.Get("config").(*Config)
	ui := state.Get("ui").(packersdk.Ui)
	out := state.Get("output_dir").(string)
	rootfs := state.Get("mount_path").(string)

	m := &Manifest{
		Builder: "etcdboot-rootfs", PluginVersion: version.PluginVersion.String(), BuildName: c.PackerBuildName,
		Suite: c.Suite, Mirror: c.Mirror, Packages: append(append([]string{}, DefaultPackages...), c.Packages...),
		Created: time.Now().UTC().Truncate(time.Second),
	}
	rec, err := readImageRecord(rootfs)
	if err != nil {
		return halt(state, err)
	}
	if rec != nil {
		m.Image, m.EtcdVersion = rec, rec.EtcdVersion
	}
	if m.RootfsBytes, err = treeSize(rootfs); err != nil {
		return halt(state, fmt.Errorf("measure %s: %w", rootfs, err))
	}

	if c.Tarball {
		ui.Say("Writing " + TarballName)
		tarball := filepath.Join(out, TarballName)
		if err := runStreaming(ctx, ui, everyLine, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
			"-C", rootfs, "-czf", tarball, "."); err != nil {
			return halt(state, fmt.Errorf("write %s: %w", tarball, err))
		}
		if err := m.add(tarball); err != nil {
			return halt(state, err)
		}
	}
	if c.RawImage {
		img := filepath.Join(out, RawImageName)
		sizeMB := c.RawImageSizeMB
		if sizeMB == 0 {
			sizeMB = rawImageSizeMB(m.RootfsBytes)
		}
		ui.Say(fmt.Sprintf("Writing %s (ext4, %d MiB)", RawImageName, sizeMB))
		if err := os.WriteFile(img, nil, 0o644); err != nil {
			return halt(state, err)
		}
		if err := os.Truncate(img, int64(sizeMB)<<20); err != nil {
			return halt(state, err)
		}
		if err := runStreaming(ctx, ui, everyLine, "mkfs.ext4", "-q", "-F", "-L", "etcdboot-root", "-d", rootfs, img); err != nil {
			return halt(state, fmt.Errorf("make %s: %w (raise raw_image_size_mb if the file system is full)", img, err))
		}
		if err := m.add(img); err != nil {
			return halt(state, err)
		}
	}

	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return halt(state, err)
	}
	if err := os.WriteFile(filepath.Join(out, ManifestName), append(data, '\n'), 0o644); err != nil {
		return halt(state, fmt.Errorf("write %s: %w", ManifestName, err))
	}
	state.Put("manifest", m)
	return multistep.ActionContinue
}

func (s *stepExport) Cleanup(multistep.StateBag) {}

// add records the size and digest of file.
func (m *Manifest) add(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("hash %s: %w", file, err)
	}
	m.Files = append(m.Files, ManifestFile{Name: filepath.Base(file), Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// readImageRecord reads the etcdboot provisioner's record from the root
// file system; nil when there is none.
func readImageRecord(rootfs string) (*etcdboot.ImageRecord, error) {
	data, err := os.ReadFile(filepath.Join(rootfs, etcdboot.ImageRecordPath))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec etcdboot.ImageRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("read %s in the root file system: %w", etcdboot.ImageRecordPath, err)
	}
	return &rec, nil
}

// treeSize is the apparent size of the regular files under dir.
func treeSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			total += fi.Size()
		}
		return nil
	})
	return total, err
}

// rawImageSizeMB sizes an ext4 image for content bytes: a quarter on top for
// metadata and small-file slack, plus 256 MiB of free space, in whole MiB.
func rawImageSizeMB(content int64) int {
	return int((content+content/4)>>20) + 256
}
