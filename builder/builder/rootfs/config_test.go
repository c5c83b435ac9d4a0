package rootfs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// sourcesRoot writes apt sources files under a temp root.
func sourcesRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, "etc/apt", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const debianSources = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`

func TestHostMirror(t *testing.T) {
	for _, tc := range []struct {
		name, suite string
		files       map[string]string
		want, err   string
	}{
		{"deb822", "bookworm", map[string]string{"sources.list.d/debian.sources": debianSources}, "http://deb.debian.org/debian", ""},
		{"deb822 security suite", "bookworm-security", map[string]string{"sources.list.d/debian.sources": debianSources}, "http://deb.debian.org/debian-security", ""},
		{"deb822 disabled and deb-src skipped", "bookworm", map[string]string{"sources.list.d/a.sources": "Types: deb\nEnabled: no\nURIs: http://off/debian\nSuites: bookworm\n\nTypes: deb-src\nURIs: http://src/debian\nSuites: bookworm\n\nTypes: deb deb-src\nURIs:\n http://on/debian\nSuites: bookworm\n"}, "http://on/debian", ""},
		{"one-line with options", "bookworm", map[string]string{"sources.list": "# comment\ndeb-src http://src/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n"}, "http://mirror.example/debian", ""},
		{"no source for the suite", "trixie", map[string]string{"sources.list.d/debian.sources": debianSources}, "", `no apt source of this host serves suite "trixie"`},
		{"no sources at all", "bookworm", nil, "", "set mirror to a Debian mirror URI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := HostMirror(sourcesRoot(t, tc.files), tc.suite)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("HostMirror = %q, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("HostMirror = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestPrepare(t *testing.T) {
	host := sourcesRoot(t, map[string]string{"sources.list.d/debian.sources": debianSources})
	for _, tc := range []struct {
		name string
		raw  map[string]interface{}
		want []string // error substrings; none means success
		warn string
	}{
		{"defaults", map[string]interface{}{}, nil, ""},
		{"explicit mirror", map[string]interface{}{"mirror": "http://ftp.de.debian.org/debian", "suite": "trixie"}, nil, ""},
		{"bad mirror", map[string]interface{}{"mirror": "ftp.de.debian.org"}, []string{`mirror "ftp.de.debian.org"`}, ""},
		{"no host source for the suite", map[string]interface{}{"suite": "trixie"}, []string{"mirror: not set and no apt source"}, ""},
		{"bad suite", map[string]interface{}{"suite": "Bookworm 12", "mirror": "http://m/debian"}, []string{`suite "Bookworm 12"`}, ""},
		{"bad package", map[string]interface{}{"packages": []string{"cloud-init", "rm -rf"}}, []string{`"rm -rf" is not a Debian package name`}, ""},
		{"negative size", map[string]interface{}{"raw_image": true, "raw_image_size_mb": -1}, []string{"raw_image_size_mb -1"}, ""},
		{"size without raw image", map[string]interface{}{"raw_image_size_mb": 512}, nil, "raw_image is false"},
		{"short chroot mount", map[string]interface{}{"chroot_mounts": [][]string{{"proc", "/proc"}}}, []string{"chroot_mounts[0]"}, ""},
		{"all at once", map[string]interface{}{"suite": "X", "packages": []string{"A B"}}, []string{"suite", "packages"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{sourcesRoot: host}
			warnings, err := c.Prepare(tc.raw, map[string]interface{}{"packer_build_name": "debian"})
			if tc.warn != "" && !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, tc.warn) }) {
				t.Errorf("warnings %v lack %q", warnings, tc.warn)
			}
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Prepare succeeded; want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestPrepareDefaults(t *testing.T) {
	c := Config{sourcesRoot: sourcesRoot(t, map[string]string{"sources.list.d/debian.sources": debianSources})}
	if _, err := c.Prepare(map[string]interface{}{"packer_build_name": "debian", "packages": []string{"systemd", "cloud-init"}}); err != nil {
		t.Fatal(err)
	}
	if c.Suite != "bookworm" || c.Mirror != "http://deb.debian.org/debian" || c.OutputDir != "output-debian" {
		t.Errorf("defaults: suite %q mirror %q output_dir %q", c.Suite, c.Mirror, c.OutputDir)
	}
	if !slices.Equal(c.Packages, []string{"cloud-init"}) {
		t.Errorf("packages %v: a default package listed again should be dropped", c.Packages)
	}
	if len(c.ChrootMounts) != 4 || !slices.Equal(c.CopyFiles, []string{"/etc/resolv.conf"}) {
		t.Errorf("chroot mounts %v, copy files %v", c.ChrootMounts, c.CopyFiles)
	}
	args := mmdebstrapArgs(&c, "/out/rootfs")
	want := []string{"--variant=minbase", "--include=systemd,systemd-sysv,dbus,nftables,iproute2,ca-certificates,cloud-init", "bookworm", "/out/rootfs", "http://deb.debian.org/debian"}
	if !slices.Equal(args, want) {
		t.Errorf("mmdebstrap %v\nwant        %v", args, want)
	}
}

func TestConfigSpecNamesEverySetting(t *testing.T) {
	spec := (&Builder{}).ConfigSpec()
	for _, key := range []string{"mirror", "suite", "output_dir", "packages", "tarball", "raw_image", "raw_image_size_mb", "chroot_mounts", "copy_files"} {
		if _, ok := spec[key]; !ok {
			t.Errorf("HCL2 spec lacks %q; run go generate ./...", key)
		}
	}
}

func TestMountsUnder(t *testing.T) {
	info := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
98 22 0:5 / /work/out/rootfs/proc rw - proc proc rw
99 22 0:6 / /work/out/rootfs/dev rw - devtmpfs udev rw
100 22 0:7 / /work/out/rootfs2/proc rw - proc proc rw
101 22 0:8 / /work/out\040dir/rootfs/sys rw - sysfs sysfs rw
`
	if got, err := parseMountsUnder(strings.NewReader(info), "/work/out/rootfs/"); err != nil || !slices.Equal(got, []string{"/work/out/rootfs/proc", "/work/out/rootfs/dev"}) {
		t.Errorf("parseMountsUnder = %v, %v", got, err)
	}
	if got, err := parseMountsUnder(strings.NewReader(info), "/work/out dir"); err != nil || !slices.Equal(got, []string{"/work/out dir/rootfs/sys"}) {
		t.Errorf("escaped mount point: %v, %v", got, err)
	}
}

func TestRawImageSize(t *testing.T) {
	if got := rawImageSizeMB(400 << 20); got != 756 {
		t.Errorf("rawImageSizeMB(400 MiB) = %d, want 756", got)
	}
}

func TestMmdebstrapStatusLines(t *testing.T) {
	for line, want := range map[string]bool{
		"I: running apt-get update...": true, "W: Download is performed unsandboxed": true, "E: mmdebstrap failed to run": true,
		"Get:57 http://deb.debian.org/debian bookworm/main": false, "Unpacking perl (5.36.0-7)": false,
	} {
		if mmdebstrapStatus(line) != want {
			t.Errorf("mmdebstrapStatus(%q) = %v", line, !want)
		}
	}
}
