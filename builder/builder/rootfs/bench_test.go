package rootfs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/builder/internal/plugintest"
)

// BenchmarkImageBuild builds images/packer/local-rootfs.pkr.hcl with the real
// Packer and this plugin, and, in the same run, the bare root file system
// under it: mmdebstrap alone with the same suite, mirror and packages. It
// reports both build times and sizes and their ratios, which say what the
// plugin (provisioning, hardening, checks, manifest) costs on top of the
// bootstrap every Debian image pays. PACKER_ACC=1, root; make bench-image.
func BenchmarkImageBuild(b *testing.B) {
	root := plugintest.Setup(b)
	if os.Geteuid() != 0 {
		b.Fatal("building a root file system needs root (mmdebstrap, chroot)")
	}
	const suite = "bookworm"
	mirror, err := HostMirror("/", suite)
	if err != nil {
		b.Fatal(err)
	}
	etcdVersion := pinnedEtcd(b, root)
	var packerTotal, bareTotal time.Duration
	var packerBytes, bareBytes int64
	for i := 0; i < b.N; i++ {
		// Alternate which goes first: the first pays for cold apt caches.
		builds := []func(){
			func() {
				d, n := timePackerBuild(b, root, etcdVersion)
				packerTotal, packerBytes = packerTotal+d, n
			},
			func() {
				d, n := timeBareBootstrap(b, suite, mirror)
				bareTotal, bareBytes = bareTotal+d, n
			},
		}
		if i%2 == 1 {
			builds[0], builds[1] = builds[1], builds[0]
		}
		for _, build := range builds {
			build()
		}
	}
	packer, bare := packerTotal/time.Duration(b.N), bareTotal/time.Duration(b.N)
	b.ReportMetric(packer.Seconds(), "packer-build-s")
	b.ReportMetric(bare.Seconds(), "bare-mmdebstrap-s")
	b.ReportMetric(float64(packer)/float64(bare), "build-time/bare")
	b.ReportMetric(float64(packerBytes)/(1<<20), "image-MiB")
	b.ReportMetric(float64(bareBytes)/(1<<20), "bare-MiB")
	b.ReportMetric(float64(packerBytes)/float64(bareBytes), "size/bare")
	fmt.Printf("image build: packer+plugin %v (%d MiB), bare mmdebstrap %v (%d MiB); time ratio %.2f, size ratio %.2f\n",
		packer.Round(time.Second), packerBytes>>20, bare.Round(time.Second), bareBytes>>20,
		float64(packer)/float64(bare), float64(packerBytes)/float64(bareBytes))
}

// timePackerBuild builds the local image into a scratch directory and returns
// the time packer build took and the root file system's size.
func timePackerBuild(b *testing.B, root, etcdVersion string) (time.Duration, int64) {
	out := filepath.Join(b.TempDir(), "image")
	cmd := exec.Command(filepath.Join(root, "bin", "packer"), "build", "-force",
		"-var", "bin_dir="+filepath.Join(root, "bin"),
		"-var", "output_dir="+out,
		"-var", "etcd_version="+etcdVersion,
		"-var", "tarball=false",
		filepath.Join(root, "images", "packer", "local-rootfs.pkr.hcl"))
	start := time.Now()
	if output, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("packer build: %v\n%s", err, tailLines(string(output), 40))
	}
	elapsed := time.Since(start)
	size, err := treeSize(filepath.Join(out, RootfsDir))
	if err != nil {
		b.Fatal(err)
	}
	return elapsed, size
}

// timeBareBootstrap runs the mmdebstrap the builder runs, with the template's
// packages, and nothing else.
func timeBareBootstrap(b *testing.B, suite, mirror string) (time.Duration, int64) {
	dir := filepath.Join(b.TempDir(), "rootfs")
	c := &Config{Suite: suite, Mirror: mirror, Packages: []string{"cloud-init", "netbase"}}
	start := time.Now()
	if output, err := exec.Command("mmdebstrap", mmdebstrapArgs(c, dir)...).CombinedOutput(); err != nil {
		b.Fatalf("mmdebstrap: %v\n%s", err, tailLines(string(output), 40))
	}
	elapsed := time.Since(start)
	size, err := treeSize(dir)
	if err != nil {
		b.Fatal(err)
	}
	return elapsed, size
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
