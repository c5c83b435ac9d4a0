package etcdboot

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeBins writes stand-in binaries named names into a temp dir.
func fakeBins(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\necho "+n+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPrepareReportsEveryProblem(t *testing.T) {
	bins := fakeBins(t, "etcd", "etcdctl", "etcdutl", "etcdboot-agent")
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "cmd", "etcdboot-agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	ok := map[string]interface{}{
		"agent_path": filepath.Join(bins, "etcdboot-agent"),
		"etcd_path":  filepath.Join(bins, "etcd"),
	}
	with := func(kv ...interface{}) map[string]interface{} {
		m := map[string]interface{}{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	for _, tc := range []struct {
		name string
		raw  map[string]interface{}
		want []string // substrings of the error; none means no error
	}{
		{"minimal", ok, nil},
		{"agent from source", with("agent_path", nil, "agent_source", src), nil},
		{"no agent", with("agent_path", nil), []string{"agent_path or agent_source"}},
		{"both agents", with("agent_source", src), []string{"agent_path and agent_source are both set"}},
		{"agent source without the command", with("agent_path", nil, "agent_source", t.TempDir()), []string{"no cmd/etcdboot-agent"}},
		{"missing agent", with("agent_path", filepath.Join(bins, "nope")), []string{"agent_path:", "no such file"}},
		{"no etcd", with("etcd_path", nil), []string{"etcd_path is required"}},
		{"missing etcdutl", with("etcdutl_path", filepath.Join(bins, "gone")), []string{"etcdutl_path:"}},
		{"directory for etcd", with("etcd_path", bins), []string{"etcd_path:", "not a regular file"}},
		{"bad digests", with("etcd_sha256", "abc", "agent_sha256", strings.Repeat("A", 64)),
			[]string{`etcd_sha256 "abc": not a SHA-256 digest`, "agent_sha256"}},
		{"bad version", with("etcd_version", "latest"), []string{`etcd_version "latest"`}},
		{"staging dir with a space", with("staging_dir", "/tmp/a b"), []string{"staging_dir"}},
		{"relative staging dir", with("staging_dir", "tmp/x"), []string{"staging_dir"}},
		{"execute command without the script", with("execute_command", "sudo sh"), []string{"execute_command"}},
		{"everything wrong at once", map[string]interface{}{"etcd_sha256": "x"},
			[]string{"agent_path or agent_source", "etcd_path is required", "etcd_sha256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := c.Prepare(tc.raw)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Prepare succeeded, want an error with %q", tc.want)
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
	bins := fakeBins(t, "etcd", "etcdctl", "etcdutl", "etcdboot-agent")
	var c Config
	if err := c.Prepare(map[string]interface{}{
		"agent_path":   filepath.Join(bins, "etcdboot-agent"),
		"etcd_path":    filepath.Join(bins, "etcd"),
		"etcd_version": "v3.6.16",
	}); err != nil {
		t.Fatal(err)
	}
	if c.EtcdctlPath != filepath.Join(bins, "etcdctl") || c.EtcdutlPath != filepath.Join(bins, "etcdutl") {
		t.Errorf("etcdctl/etcdutl default to %s, %s; want siblings of etcd", c.EtcdctlPath, c.EtcdutlPath)
	}
	if c.StagingDir != DefaultStagingDir || c.ExecuteCommand != DefaultExecuteCommand {
		t.Errorf("defaults: staging %q, execute %q", c.StagingDir, c.ExecuteCommand)
	}
	if c.EtcdVersion != "3.6.16" {
		t.Errorf("etcd_version %q: the v prefix should be dropped", c.EtcdVersion)
	}
}

// TestConfigSpecNamesEverySetting guards the generated config.hcl2spec.go:
// a setting missing there cannot be written in an HCL template.
func TestConfigSpecNamesEverySetting(t *testing.T) {
	spec := (&Provisioner{}).ConfigSpec()
	for _, key := range []string{
		"agent_path", "agent_source", "agent_sha256", "etcd_path", "etcdctl_path", "etcdutl_path",
		"etcd_sha256", "etcdctl_sha256", "etcdutl_sha256", "etcd_version", "staging_dir", "execute_command",
	} {
		if _, ok := spec[key]; !ok {
			keys := make([]string, 0, len(spec))
			for k := range spec {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			t.Errorf("HCL2 spec lacks %q; run go generate ./... (it has %v)", key, keys)
		}
	}
}
