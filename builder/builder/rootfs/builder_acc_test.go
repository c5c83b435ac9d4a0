package rootfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/acctest"

	"github.com/etcdboot/etcdboot/builder/internal/plugintest"
	"github.com/etcdboot/etcdboot/images"
)

// TestAccLocalRootfs runs the real Packer on images/packer/local-rootfs.pkr.hcl,
// the template CI builds, and inspects the image it makes: the agent, etcd
// at the pinned version, the enabled units, and nothing a clone must not share.
func TestAccLocalRootfs(t *testing.T) {
	root := plugintest.Setup(t)
	if os.Geteuid() != 0 {
		t.Fatal("the rootfs builder needs root (mmdebstrap, chroot)")
	}
	template, err := os.ReadFile(filepath.Join(root, "images", "packer", "local-rootfs.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	etcdVersion := pinnedEtcd(t, root)
	// make test keeps the image (ETCDBOOT_IMAGE_OUT=out/image/local-rootfs)
	// for the image boot tests that follow, rather than building it twice.
	out := os.Getenv("ETCDBOOT_IMAGE_OUT")
	if out == "" {
		out = filepath.Join(t.TempDir(), "image")
	}
	bin := filepath.Join(root, "bin")

	acctest.TestPlugin(t, &acctest.PluginTestCase{
		Name:     "etcdboot_local_rootfs",
		Type:     "etcdboot-rootfs",
		Template: strings.ReplaceAll(string(template), "%", "%%"),
		BuildExtraArgs: []string{
			"-force",
			"-var", "bin_dir=" + bin,
			"-var", "output_dir=" + out,
			"-var", "etcd_version=" + etcdVersion,
		},
		Check: func(cmd *exec.Cmd, logfile string) error {
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				return fmt.Errorf("packer build exited %d:\n%s", code, plugintest.Tail(logfile, 60))
			}
			return checkImage(out, bin, etcdVersion)
		},
	})
}

// pinnedEtcd is the etcd version bin/ was built at (make etcd).
func pinnedEtcd(t testing.TB, root string) string {
	v := os.Getenv("ETCD_VERSION")
	if v == "" {
		data, err := os.ReadFile(filepath.Join(root, "bin", ".etcd-version"))
		if err != nil {
			t.Fatalf("no bin/.etcd-version: run make etcd: %v", err)
		}
		v = strings.TrimSpace(string(data))
	}
	return strings.TrimPrefix(v, "v")
}

// checkImage reports every way the built image falls short.
func checkImage(out, bin, etcdVersion string) error {
	rootfs := filepath.Join(out, RootfsDir)
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	at := func(p string) string { return filepath.Join(rootfs, p) }

	// What must be there.
	for _, b := range []string{"etcdboot-agent", "etcd", "etcdctl", "etcdutl"} {
		fi, err := os.Stat(at("usr/local/bin/" + b))
		if err != nil {
			fail("%s missing: %v", b, err)
			continue
		}
		if fi.Mode().Perm() != 0o755 {
			fail("%s has mode %v, want 0755", b, fi.Mode().Perm())
		}
		if !sameFile(at("usr/local/bin/"+b), filepath.Join(bin, b)) {
			fail("/usr/local/bin/%s is not bin/%s", b, b)
		}
	}
	version, err := exec.Command("chroot", rootfs, "/usr/local/bin/etcd", "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(version), "etcd Version: "+etcdVersion+"\n") {
		fail("chroot etcd --version: %v: %s (want %s)", err, version, etcdVersion)
	}
	for _, unit := range images.UnitNames {
		want, _ := images.Units.ReadFile("systemd/" + unit)
		if got, err := os.ReadFile(at("etc/systemd/system/" + unit)); err != nil || !bytes.Equal(got, want) {
			fail("unit %s not installed as embedded: %v", unit, err)
		}
		link := at("etc/systemd/system/multi-user.target.wants/" + unit)
		if target, err := os.Readlink(link); err != nil || target != images.UnitDir+"/"+unit {
			fail("unit %s not enabled (multi-user.target.wants): %q %v", unit, target, err)
		}
	}
	for _, unit := range images.DormantUnitNames() {
		// Installed, not enabled: a payload with a backup or maintenance
		// section enables its timer.
		want, _ := images.Units.ReadFile("systemd/" + unit)
		if got, err := os.ReadFile(at("etc/systemd/system/" + unit)); err != nil || !bytes.Equal(got, want) {
			fail("unit %s not installed as embedded: %v", unit, err)
		}
	}
	if passwd, _ := os.ReadFile(at("etc/passwd")); !bytes.Contains(passwd, []byte("\netcd:")) {
		fail("no etcd user in /etc/passwd")
	}
	if group, _ := os.ReadFile(at("etc/group")); !bytes.Contains(group, []byte("\netcd:")) {
		fail("no etcd group in /etc/group")
	}
	if _, err := os.Stat(at("usr/lib/etcdboot/image.json")); err != nil {
		fail("no image record: %v", err)
	}

	// What must not be.
	if data, err := os.ReadFile(at("etc/machine-id")); err == nil && len(data) > 0 {
		fail("/etc/machine-id has content %q", data)
	}
	if keys, _ := filepath.Glob(at("etc/ssh/ssh_host_*")); len(keys) > 0 {
		fail("SSH host keys remain: %v", keys)
	}
	for _, dir := range []string{"var/lib/etcd", "var/lib/etcdboot"} {
		if entries, err := os.ReadDir(at(dir)); err != nil {
			fail("%s: %v", dir, err)
		} else if len(entries) > 0 {
			fail("%s is not empty: %d entries", dir, len(entries))
		}
	}
	for _, p := range []string{"etc/etcdboot/node.yaml", "etc/etcd/etcd.conf", "etc/etcd/etcd.yaml", "etc/etcdboot/pki",
		"usr/sbin/policy-rc.d", "tmp/etcdboot-provision", "var/lib/systemd/random-seed"} {
		if _, err := os.Lstat(at(p)); err == nil {
			fail("/%s remains", p)
		}
	}
	for _, dir := range []string{"etc/etcdboot", "etc/etcd", "etc/kubernetes"} {
		filepath.WalkDir(at(dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				for _, ext := range []string{".key", ".crt", ".pem", ".csr"} {
					if strings.HasSuffix(p, ext) {
						fail("key material remains: %s", strings.TrimPrefix(p, rootfs))
					}
				}
			}
			return nil
		})
	}
	if mounts, err := mountsUnder(out); err != nil || len(mounts) > 0 {
		fail("still mounted under the output: %v %v", mounts, err)
	}

	// The manifest and the export it describes.
	var m Manifest
	data, err := os.ReadFile(filepath.Join(out, ManifestName))
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		fail("manifest: %v", err)
		return errors.Join(errs...)
	}
	if m.EtcdVersion != etcdVersion || m.RootfsBytes <= 0 || m.Suite != "bookworm" {
		fail("manifest: etcd %q, rootfs %d bytes, suite %q", m.EtcdVersion, m.RootfsBytes, m.Suite)
	}
	if len(m.Files) != 1 || m.Files[0].Name != TarballName {
		fail("manifest files %+v, want only %s", m.Files, TarballName)
	} else if sum, size := digest(filepath.Join(out, TarballName)); sum != m.Files[0].SHA256 || size != m.Files[0].Bytes {
		fail("%s: sha256 %s, %d bytes; the manifest says %s, %d", TarballName, sum, size, m.Files[0].SHA256, m.Files[0].Bytes)
	}
	return errors.Join(errs...)
}

func digest(path string) (string, int64) {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error(), 0
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), int64(len(data))
}

func sameFile(a, b string) bool {
	x, _ := digest(a)
	y, _ := digest(b)
	return x == y
}
