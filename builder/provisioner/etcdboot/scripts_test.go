package etcdboot

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// plant creates files (and directories ending in /) under root.
func plant(t *testing.T, root string, paths map[string]string) {
	t.Helper()
	for p, content := range paths {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// runScript runs a rendered script with the real /bin/sh.
func runScript(t *testing.T, script []byte) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", string(script))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n%s\n--- script:\n%s", err, out, script)
	}
	return string(out)
}

// A used machine: everything a member writes at run time, plus what must stay.
var usedMachine = map[string]string{
	"etc/machine-id":                        "0123456789abcdef0123456789abcdef\n",
	"var/lib/dbus/machine-id":               "0123456789abcdef0123456789abcdef\n",
	"etc/ssh/ssh_host_ed25519_key":          "key",
	"etc/ssh/ssh_host_ed25519_key.pub":      "pub",
	"etc/ssh/sshd_config":                   "keep",
	"var/lib/systemd/random-seed":           "seed",
	"var/lib/etcd/member/snap/db":           "data",
	"var/lib/etcd/.hidden":                  "data",
	"var/lib/etcdboot/journal.json":         "{}",
	"etc/etcdboot/node.yaml":                "payload",
	"etc/etcdboot/pki/ca.crt":               "cert",
	"etc/etcdboot/pki/server.key":           "key",
	"etc/etcdboot/extra.key":                "key",
	"etc/etcdboot/keep.conf":                "keep",
	"etc/etcd/etcd.conf":                    "ETCD_NAME=etcd1",
	"etc/etcd/peer.crt":                     "cert",
	"etc/kubernetes/pki/etcd/server.key":    "key",
	"etc/kubernetes/pki/apiserver.crt":      "not etcd's: keep",
	"var/lib/cloud/instances/i-1/user-data": "x",
	"var/lib/cloud/seed/nocloud/user-data":  "baked seed: keep",
	"usr/local/bin/etcd":                    "binary",
}

func TestHardenLeavesNothingVerifyFinds(t *testing.T) {
	root := t.TempDir()
	plant(t, root, usedMachine)

	verify, err := renderVerify(hardenPlan{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	before := remains(runScript(t, verify))
	for _, want := range []string{
		"/etc/machine-id", "/var/lib/dbus/machine-id", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub",
		"/var/lib/systemd/random-seed", "/var/lib/etcd/member/snap/db", "/var/lib/etcd/.hidden", "/var/lib/etcdboot/journal.json",
		"/etc/etcdboot/node.yaml", "/etc/etcdboot/pki", "/etc/etcdboot/extra.key", "/etc/etcd/etcd.conf", "/etc/etcd/peer.crt",
		"/etc/kubernetes/pki/etcd/server.key",
	} {
		if !slices.Contains(before, want) {
			t.Errorf("verify on a used machine does not report %s; it reports %v", want, before)
		}
	}

	harden, err := renderHarden(hardenPlan{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	runScript(t, harden)
	if left := remains(runScript(t, verify)); len(left) > 0 {
		t.Errorf("after harden, verify still finds %v", left)
	}
	// machine-id stays as an empty file: systemd's "first boot" marker.
	if fi, err := os.Stat(filepath.Join(root, "etc/machine-id")); err != nil || fi.Size() != 0 {
		t.Errorf("etc/machine-id should be an empty file: %v %v", fi, err)
	}
	for _, kept := range []string{
		"etc/ssh/sshd_config", "etc/etcdboot/keep.conf", "etc/kubernetes/pki/apiserver.crt",
		"var/lib/cloud/seed/nocloud/user-data", "usr/local/bin/etcd", "var/lib/etcd/", "var/lib/etcdboot/",
	} {
		if _, err := os.Stat(filepath.Join(root, kept)); err != nil {
			t.Errorf("harden removed %s, which it must keep: %v", kept, err)
		}
	}
	// Idempotent: a second run on a clean root is fine.
	runScript(t, harden)
}

func TestVerifyOnACleanImageReportsNothing(t *testing.T) {
	root := t.TempDir()
	plant(t, root, map[string]string{"etc/machine-id": "", "var/lib/etcd/": "", "etc/etcdboot/": ""})
	verify, err := renderVerify(hardenPlan{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if out := runScript(t, verify); out != "" {
		t.Errorf("verify printed %q on a clean root", out)
	}
}

func TestInstallScriptChecksDigestsAndEnablesUnits(t *testing.T) {
	script, err := renderInstall(installPlan{
		Staging: "/tmp/etcdboot-provision", BinDir: "/usr/local/bin",
		Binaries: []binary{{Name: "etcd", SHA256: strings.Repeat("a", 64)}, {Name: "etcdboot-agent", SHA256: strings.Repeat("b", 64)}},
		UnitDir:  "/etc/systemd/system", Units: []string{"etcdboot-agent.service", "etcd.service"}, User: "etcd",
		Dormant: []string{"etcdboot-backup.timer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := string(script)
	for _, want := range []string{
		strings.Repeat("a", 64) + "  etcd\n",
		"install -m 0755 -o root -g root 'etcd' '/usr/local/bin/etcd'",
		"useradd --system --gid etcd",
		"install -d -m 0700 -o etcd -g etcd /var/lib/etcd",
		"install -m 0644 -o root -g root 'units/etcd.service' '/etc/systemd/system/etcd.service'",
		"install -m 0644 -o root -g root 'units/etcdboot-backup.timer' '/etc/systemd/system/etcdboot-backup.timer'",
		"systemctl enable 'etcdboot-agent.service' 'etcd.service'\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("install script lacks %q:\n%s", want, s)
		}
	}
	if out, err := exec.Command("/bin/sh", "-n", "-c", s).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, out)
	}
}

func TestParseEtcdVersion(t *testing.T) {
	out := "etcd Version: 3.6.16\nGit SHA: GitNotFound\nGo Version: go1.26.8\nGo OS/Arch: linux/amd64\n"
	if v, err := parseEtcdVersion(out); err != nil || v != "3.6.16" {
		t.Errorf("parseEtcdVersion = %q, %v", v, err)
	}
	if _, err := parseEtcdVersion("etcdctl version: 3.6.16\n"); err == nil {
		t.Error("etcdctl's output was taken for etcd's")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"a": "'a'", "it's": `'it'\''s'`, "$HOME": "'$HOME'"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
