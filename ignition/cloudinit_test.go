package ignition

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// requireCloudInit skips the test when cloud-init is not installed, or fails
// it when ETCDBOOT_E2E_REQUIRED=1 says the real tools must be there.
func requireCloudInit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("cloud-init"); err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			t.Fatalf("cloud-init is not installed and ETCDBOOT_E2E_REQUIRED=1: install the cloud-init package")
		}
		t.Skipf("cloud-init is not installed (set ETCDBOOT_E2E_REQUIRED=1 to make this a failure)")
	}
}

// cloudInitPython is the interpreter cloud-init runs under (its script's
// #! line): a python3 earlier in PATH may not have the cloudinit module.
func cloudInitPython(t *testing.T) string {
	t.Helper()
	script, err := exec.LookPath("cloud-init")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(script)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	interp, ok := strings.CutPrefix(strings.TrimSpace(line), "#!")
	if !ok || interp == "" {
		t.Fatalf("%s has no #! line naming its python", script)
	}
	return strings.Fields(interp)[0]
}

// cloudInitSchema validates the cloud-config file at path with the real
// `cloud-init schema -c`. cloud-init 22.4 exits 0 on deprecations and prints
// them on stdout, so anything but the one "Valid cloud-config" line fails.
func cloudInitSchema(path string) error {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("cloud-init", "schema", "-c", path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if want := "Valid cloud-config: " + path + "\n"; err != nil || stdout.String() != want || stderr.Len() > 0 {
		return fmt.Errorf("cloud-init schema -c %s: exit %v\nstdout: %s\nstderr: %s", path, err, stdout.String(), stderr.String())
	}
	return nil
}

// checkWithCloudInit writes data to a file and runs cloudInitSchema on it.
func checkWithCloudInit(t *testing.T, data []byte) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return cloudInitSchema(path)
}

// cloudView is what a cloud-config asks of the node, decoded.
type cloudView struct {
	Hostname *string    `json:"hostname"`
	Users    []any      `json:"users"`
	Runcmd   [][]string `json:"runcmd"`
	Files    []struct {
		Path    string `json:"path"`
		User    string `json:"user"`
		Group   string `json:"group"`
		Mode    int    `json:"mode"`
		Append  bool   `json:"append"`
		Defer   bool   `json:"defer"`
		Content []byte `json:"content"`
	} `json:"files"`
}

// decodeScript decodes a cloud-config with cloud-init's own code: its YAML
// loader, and write_files' encoding, permission and owner handling.
const decodeScript = `
import base64, json, sys
from cloudinit import util
from cloudinit.config import cc_write_files as wf
cfg = util.load_yaml(open(sys.argv[1]).read())
out = {"hostname": cfg.get("hostname"), "users": cfg.get("users"), "runcmd": cfg.get("runcmd"), "files": []}
for f in cfg.get("write_files", []):
    c = wf.extract_contents(f.get("content", ""), wf.canonicalize_extraction(f.get("encoding")))
    if isinstance(c, str):
        c = c.encode()
    u, g = util.extract_usergroup(f.get("owner", "root:root"))
    out["files"].append({"path": f["path"], "user": u, "group": g,
        "mode": wf.decode_perms(f.get("permissions"), wf.DEFAULT_PERMS),
        "append": util.get_cfg_option_bool(f, "append"),
        "defer": util.get_cfg_option_bool(f, "defer", wf.DEFAULT_DEFER),
        "content": base64.b64encode(c).decode()})
print(json.dumps(out))
`

// decodeWithCloudInit runs decodeScript on data.
func decodeWithCloudInit(t *testing.T, data []byte) cloudView {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(cloudInitPython(t), "-c", decodeScript, path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("decode with cloud-init's code: %v\n%s", err, stderr)
	}
	var v cloudView
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("decode with cloud-init's code: %v\n%s", err, out)
	}
	return v
}

// decodeInGo decodes a cloud-config the way cloud-init does, without it.
func decodeInGo(t *testing.T, data []byte) cloudView {
	t.Helper()
	var cfg cloudConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("cloud-config is not YAML: %v", err)
	}
	v := cloudView{Runcmd: cfg.Runcmd}
	if cfg.Hostname != "" {
		v.Hostname = &cfg.Hostname
	}
	v.Users = append(v.Users, cfg.Users...)
	for _, f := range cfg.WriteFiles {
		content := []byte(f.Content)
		if strings.Contains(f.Encoding, "b64") {
			raw, err := base64.StdEncoding.DecodeString(f.Content)
			if err != nil {
				t.Fatalf("%s: base64: %v", f.Path, err)
			}
			content = raw
		}
		if strings.HasPrefix(f.Encoding, "gz") {
			zr, err := gzip.NewReader(bytes.NewReader(content))
			if err != nil {
				t.Fatalf("%s: gzip: %v", f.Path, err)
			}
			if content, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: gzip: %v", f.Path, err)
			}
		}
		owner := f.Owner
		if owner == "" {
			owner = "root:root"
		}
		user, group, _ := strings.Cut(owner, ":")
		mode := int64(0o644)
		if f.Permissions != "" {
			var err error
			if mode, err = strconv.ParseInt(f.Permissions, 8, 32); err != nil {
				t.Fatalf("%s: permissions %q: %v", f.Path, f.Permissions, err)
			}
		}
		v.Files = append(v.Files, struct {
			Path    string `json:"path"`
			User    string `json:"user"`
			Group   string `json:"group"`
			Mode    int    `json:"mode"`
			Append  bool   `json:"append"`
			Defer   bool   `json:"defer"`
			Content []byte `json:"content"`
		}{f.Path, user, group, int(mode), f.Append, f.Defer, content})
	}
	return v
}

// checkCloudView asserts that v does what b asks.
func checkCloudView(t *testing.T, decoder string, b Bundle, v cloudView) {
	t.Helper()
	if b.Hostname == "" && v.Hostname != nil || b.Hostname != "" && (v.Hostname == nil || *v.Hostname != b.Hostname) {
		t.Errorf("%s: hostname = %v, want %q", decoder, v.Hostname, b.Hostname)
	}
	wantUsers := []any{"default", map[string]any{"name": "etcd", "system": true, "shell": "/usr/sbin/nologin", "lock_passwd": true}}
	if !reflect.DeepEqual(v.Users, wantUsers) {
		t.Errorf("%s: users = %#v, want %#v (the image's default user first)", decoder, v.Users, wantUsers)
	}
	wantCmd := [][]string{{"systemctl", "enable", "--now", "--no-block", AgentUnit}}
	if !reflect.DeepEqual(v.Runcmd, wantCmd) {
		t.Errorf("%s: runcmd = %q, want %q", decoder, v.Runcmd, wantCmd)
	}
	got := map[string]wantFile{}
	for _, f := range v.Files {
		if _, dup := got[f.Path]; dup {
			t.Errorf("%s: %s written twice", decoder, f.Path)
		}
		if f.User != f.Group {
			t.Errorf("%s: %s owned by %s:%s, want one name for both", decoder, f.Path, f.User, f.Group)
		}
		if !f.Defer {
			t.Errorf("%s: %s is not deferred: it would be written before the etcd user exists", decoder, f.Path)
		}
		got[f.Path] = wantFile{Mode: fs.FileMode(f.Mode), Owner: f.User, Contents: f.Content, Append: f.Append}
	}
	compareFiles(t, decoder, expectedFiles(t, b, false), got)
	payloadPath := b.PayloadPath
	if payloadPath == "" {
		payloadPath = "/etc/etcdboot/node.yaml"
	}
	if n := len(v.Files); n == 0 || v.Files[n-1].Path != payloadPath {
		t.Errorf("%s: the payload is not the last file written", decoder)
	}
}

func TestRenderCloudInitWritesTheBundle(t *testing.T) {
	for name, b := range testBundles(t) {
		t.Run(name, func(t *testing.T) {
			ud, err := RenderCloudInit(b)
			if err != nil {
				t.Fatalf("RenderCloudInit: %v", err)
			}
			if !bytes.HasPrefix(ud, []byte("#cloud-config\n")) {
				t.Fatalf("user-data starts %q, want #cloud-config", ud[:min(len(ud), 20)])
			}
			checkCloudView(t, "go", b, decodeInGo(t, ud))

			t.Run("cloud-init", func(t *testing.T) {
				requireCloudInit(t)
				if err := checkWithCloudInit(t, ud); err != nil {
					t.Errorf("%v\nuser-data:\n%s", err, ud)
				}
				checkCloudView(t, "cloud-init", b, decodeWithCloudInit(t, ud))
			})
		})
	}
}

func TestCloudInitCompressesLargeFiles(t *testing.T) {
	ud, err := RenderCloudInit(rsaFiveMemberBundle(t))
	if err != nil {
		t.Fatal(err)
	}
	var cfg cloudConfig
	if err := yaml.Unmarshal(ud, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, f := range cfg.WriteFiles {
		if f.Path == "/etc/etcdboot/node.yaml" && f.Encoding != "gz+b64" {
			t.Errorf("node.yaml encoding = %q, want gz+b64", f.Encoding)
		}
	}
}

// TestCloudInitSchemaCheckCanFail shows the check rejects what cloud-init
// would reject or warn about, so a passing check means something.
func TestCloudInitSchemaCheckCanFail(t *testing.T) {
	requireCloudInit(t)
	good, err := RenderCloudInit(placeholderBundle())
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{
		"no header":       strings.TrimPrefix(string(good), "#cloud-config\n"),
		"unknown key":     strings.Replace(string(good), "    lock_passwd: true\n", "    lock_passwd: true\n    no_such_key: true\n", 1),
		"deprecated key":  strings.Replace(string(good), "lock_passwd:", "lock-passwd:", 1),
		"bad encoding":    strings.Replace(string(good), "encoding: gz+b64", "encoding: zstd", 1),
		"bad write_files": "#cloud-config\nwrite_files:\n  - content: no path\n",
	} {
		if doc == string(good) {
			t.Fatalf("%s: the mutation did not apply", name)
		}
		if err := checkWithCloudInit(t, []byte(doc)); err == nil {
			t.Errorf("%s: cloud-init schema accepted:\n%s", name, doc)
		}
	}
}
