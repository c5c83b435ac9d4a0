package pxe

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenBaseURL is what the golden scripts point machines at.
const goldenBaseURL = "http://pxe.example.test:8080"

// TestIPXEScriptsMatchGolden renders each OS's script through the real
// server and compares it with testdata/<name>.ipxe; -update rewrites them.
func TestIPXEScriptsMatchGolden(t *testing.T) {
	cfg := testConfig(t, newTree(t))
	cfg.BaseURL = goldenBaseURL
	s := startServer(t, cfg)
	for _, tc := range []struct{ golden, target string }{
		{"boot.ipxe", "/boot.ipxe"},
		{"fcos.ipxe", "/ipxe?mac=52-54-00-aa-bb-01&uuid=&hostname="},
		{"fcos-install.ipxe", "/ipxe?mac=" + macFCOSInstall},
		{"flatcar.ipxe", "/ipxe?mac=&uuid=" + uuidFlatcar + "&hostname="},
		{"debian.ipxe", "/ipxe?hostname=" + hostDebian},
		{"debian-default.ipxe", "/ipxe?mac=" + macDebianDef},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			r := do(t, s, http.MethodGet, tc.target)
			if r.status != http.StatusOK {
				t.Fatalf("status %d, body %q", r.status, r.body)
			}
			if err := checkIPXESyntax(r.body); err != nil {
				t.Errorf("not a script iPXE runs: %v\n%s", err, r.body)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(r.body), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./serve -run TestIPXEScriptsMatchGolden -update)", err)
			}
			if r.body != string(want) {
				t.Errorf("script differs from %s:\n--- got\n%s--- want\n%s", path, r.body, want)
			}
		})
	}
}

// TestIPXEScriptsFetchThePayloadBackFromTheSameServer follows a script's
// payload URL, with iPXE's settings filled in as the machine would, back to
// the server: the selector that chose the script must choose the payload.
func TestIPXEScriptsFetchThePayloadBackFromTheSameServer(t *testing.T) {
	tr := newTree(t)
	s := startServer(t, testConfig(t, tr))
	settings := strings.NewReplacer("${mac:hexhyp}", "52-54-00-aa-bb-01", "${uuid}", uuidFlatcar, "${hostname}", hostDebian)
	payloadURL := regexp.MustCompile(`(?:ignition\.config\.url|coreos\.inst\.ignition_url|ds=nocloud-net;s)=(\S+)`)
	for _, tc := range []struct{ target, node, suffix, file string }{
		{"/ipxe?mac=" + macEtcd1, "etcd1", "", "ignition.json"},
		{"/ipxe?uuid=" + uuidFlatcar, "etcd3", "", "ignition.json"},
		{"/ipxe?hostname=" + hostDebian, "etcd2", "user-data", "user-data"},
	} {
		r := do(t, s, http.MethodGet, tc.target)
		m := payloadURL.FindStringSubmatch(r.body)
		if m == nil {
			t.Fatalf("%s: no payload URL in\n%s", tc.target, r.body)
		}
		u := settings.Replace(m[1]) + tc.suffix
		base := "http://" + s.Addr()
		if !strings.HasPrefix(u, base) {
			t.Fatalf("%s: payload URL %s is not on %s", tc.target, u, base)
		}
		got := doWith(t, testClient, base, http.MethodGet, strings.TrimPrefix(u, base))
		if got.status != http.StatusOK || got.body != mustRead(t, filepath.Join(tr.out, "nodes", tc.node, tc.file)) {
			t.Errorf("%s: %s answered %d with another payload than %s's %s", tc.target, u, got.status, tc.node, tc.file)
		}
	}
}

// ipxeSettings are the settings scripts may expand: the identifiers.
var ipxeSettings = map[string]bool{"mac:hexhyp": true, "uuid": true, "hostname": true}

var settingRef = regexp.MustCompile(`\$\{([^}]*)\}`)

// checkIPXESyntax is a small iPXE script checker: a #!ipxe first line, then
// only comments and the commands etcdboot writes (kernel, initrd, boot,
// chain, echo, set) with the arguments they take, no token iPXE would read
// as a comment or a command separator, only known settings, and a last
// command that boots.
func checkIPXESyntax(script string) error {
	if !strings.HasSuffix(script, "\n") {
		return errors.New("does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(script, "\n"), "\n")
	if lines[0] != "#!ipxe" {
		return fmt.Errorf("line 1 is %q, want #!ipxe", lines[0])
	}
	last := ""
	for i, line := range lines[1:] {
		n := i + 2
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		for _, f := range fields {
			if f == "||" || f == "&&" || f == ";" || strings.HasPrefix(f, "#") {
				return fmt.Errorf("line %d: token %q would end the command", n, f)
			}
			for _, ref := range settingRef.FindAllStringSubmatch(f, -1) {
				if !ipxeSettings[ref[1]] {
					return fmt.Errorf("line %d: unknown setting ${%s}", n, ref[1])
				}
			}
			if strings.Count(f, "${") != len(settingRef.FindAllString(f, -1)) {
				return fmt.Errorf("line %d: unterminated setting in %q", n, f)
			}
		}
		cmd, args := fields[0], fields[1:]
		switch cmd {
		case "kernel", "chain":
			if len(args) == 0 || !isScriptURL(args[0]) {
				return fmt.Errorf("line %d: %s wants a URL first", n, cmd)
			}
		case "initrd":
			if len(args) >= 2 && args[0] == "--name" {
				args = args[2:]
			}
			if len(args) != 1 || !isScriptURL(args[0]) {
				return fmt.Errorf("line %d: initrd wants [--name NAME] URL", n)
			}
		case "boot":
			if len(args) != 0 {
				return fmt.Errorf("line %d: boot takes no arguments here", n)
			}
		case "set":
			if len(args) < 1 {
				return fmt.Errorf("line %d: set wants a name", n)
			}
		case "echo":
		default:
			return fmt.Errorf("line %d: %q is not an iPXE command etcdboot writes", n, cmd)
		}
		last = cmd
	}
	if last != "boot" && last != "chain" {
		return fmt.Errorf("the last command is %q; a script must end in boot or chain", last)
	}
	return nil
}

// isScriptURL accepts absolute http(s)/tftp URLs and relative ones.
func isScriptURL(s string) bool {
	if strings.Contains(s, "://") {
		return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "tftp://")
	}
	return s != "" && !strings.HasPrefix(s, "-")
}

func TestIPXESyntaxCheckerRejectsBrokenScripts(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"no shebang", "kernel http://x/k\nboot\n"},
		{"unknown command", "#!ipxe\nimgfetch http://x/k\nboot\n"},
		{"kernel without URL", "#!ipxe\nkernel\nboot\n"},
		{"argument starting a comment", "#!ipxe\nkernel http://x/k #console\nboot\n"},
		{"separator token", "#!ipxe\nkernel http://x/k ; boot\nboot\n"},
		{"unknown setting", "#!ipxe\nkernel http://x/k ip=${ip}\nboot\n"},
		{"unterminated setting", "#!ipxe\nkernel http://x/k mac=${mac:hexhyp\nboot\n"},
		{"initrd with two URLs", "#!ipxe\nkernel http://x/k\ninitrd http://x/a http://x/b\nboot\n"},
		{"does not boot", "#!ipxe\nkernel http://x/k\ninitrd http://x/i\n"},
		{"no final newline", "#!ipxe\nchain ipxe"},
	} {
		if err := checkIPXESyntax(tc.script); err == nil {
			t.Errorf("%s: accepted\n%s", tc.name, tc.script)
		}
	}
	if err := checkIPXESyntax(BootScript); err != nil {
		t.Errorf("BootScript: %v", err)
	}
}
