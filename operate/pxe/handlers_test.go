package pxe

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPayloadRoutesServeTheSelectedNodesFiles(t *testing.T) {
	tr := newTree(t)
	s := startServer(t, testConfig(t, tr))
	ign := func(node string) string { return mustRead(t, filepath.Join(tr.out, "nodes", node, "ignition.json")) }
	ud := func(node string) string { return mustRead(t, filepath.Join(tr.out, "nodes", node, "user-data")) }
	for _, tc := range []struct {
		name, target, want, contentType string
	}{
		{"ignition by mac with colons", "/ignition?mac=" + macEtcd1, ign("etcd1"), typeIgnition},
		{"ignition by mac with hyphens, upper case", "/ignition?mac=52-54-00-AA-BB-01", ign("etcd1"), typeIgnition},
		{"ignition by the other member's mac", "/ignition?mac=52-54-00-aa-bb-02", ign("etcd2"), typeIgnition},
		{"ignition by uuid, any case", "/ignition?uuid=4C4C4544-0042-3510-8051-b4c04f4d3232", ign("etcd3"), typeIgnition},
		{"ignition by hostname", "/ignition?hostname=Debian-Box.lab", ign("etcd2"), typeIgnition},
		{"mac wins over uuid", "/ignition?mac=" + macEtcd1 + "&uuid=" + uuidFlatcar, ign("etcd1"), typeIgnition},
		{"unknown mac falls back to uuid", "/ignition?mac=52:54:00:00:00:99&uuid=" + uuidFlatcar, ign("etcd3"), typeIgnition},
		{"empty labels are absent (iPXE unset settings)", "/ignition?mac=&uuid=" + uuidFlatcar + "&hostname=", ign("etcd3"), typeIgnition},
		{"user-data by mac with hyphens", "/cloud-init/52-54-00-aa-bb-02/user-data", ud("etcd2"), typeText},
		{"user-data by mac with colons", "/cloud-init/" + macEtcd1 + "/user-data", ud("etcd1"), typeText},
		{"user-data by uuid", "/cloud-init/" + uuidFlatcar + "/user-data", ud("etcd3"), typeText},
		{"user-data by hostname", "/cloud-init/" + hostDebian + "/user-data", ud("etcd2"), typeText},
		{"meta-data", "/cloud-init/" + macEtcd1 + "/meta-data", "instance-id: lab-etcd1\nlocal-hostname: etcd1\n", typeYAML},
		{"vendor-data", "/cloud-init/52-54-00-aa-bb-02/vendor-data", "#cloud-config\n", typeYAML},
		{"metadata", "/metadata?mac=" + macEtcd1, "NAME=etcd1\nCLUSTER=lab\nIPS=10.123.0.11\nMAC=52:54:00:aa:bb:01\nOS=fcos\nFORMAT=ignition\n", typeText},
		{"metadata by uuid", "/metadata?uuid=" + uuidFlatcar, "NAME=etcd3\nCLUSTER=lab\nIPS=10.123.0.13\nUUID=" + uuidFlatcar + "\nOS=flatcar\nFORMAT=ignition\n", typeText},
		{"healthz", "/healthz", "ok\n", typeText},
		{"boot.ipxe", "/boot.ipxe", BootScript, typeIPXE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, http.MethodGet, tc.target)
			if r.status != http.StatusOK {
				t.Fatalf("status %d, body %q", r.status, r.body)
			}
			if r.body != tc.want {
				t.Errorf("body:\n%s\nwant:\n%s", clip(r.body), clip(tc.want))
			}
			if got := r.header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
		})
	}
}

func TestPayloadsAreNotCached(t *testing.T) {
	s := startServer(t, testConfig(t, newTree(t)))
	for _, target := range []string{"/ignition?mac=" + macEtcd1, "/cloud-init/" + macEtcd1 + "/user-data"} {
		if got := do(t, s, http.MethodGet, target).header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", target, got)
		}
	}
}

func TestMetadataCarriesNoSecrets(t *testing.T) {
	s := startServer(t, testConfig(t, newTree(t)))
	for _, target := range []string{"/metadata?mac=" + macEtcd1, "/cloud-init/" + macEtcd1 + "/meta-data", "/ipxe?mac=" + macEtcd1} {
		r := do(t, s, http.MethodGet, target)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d", target, r.status)
		}
		for _, secret := range []string{"PRIVATE KEY", "etcd-cluster", "BEGIN", "token"} {
			if strings.Contains(r.body, secret) {
				t.Errorf("%s: body contains %q:\n%s", target, secret, r.body)
			}
		}
	}
}

func TestRefusals(t *testing.T) {
	s := startServer(t, testConfig(t, newTree(t)))
	for _, tc := range []struct {
		name, method, target string
		status               int
		body                 string // exact, without http.Error's newline; "" = do not check
	}{
		{"unknown mac", "GET", "/ignition?mac=52:54:00:00:00:99", 404, notFoundBody},
		{"unknown uuid: same body as an unknown mac", "GET", "/ignition?uuid=00000000-0000-0000-0000-000000000000", 404, notFoundBody},
		{"unknown hostname", "GET", "/ipxe?hostname=nobody.lab", 404, notFoundBody},
		{"unknown mac in a cloud-init path", "GET", "/cloud-init/52-54-00-00-00-99/user-data", 404, notFoundBody},
		{"unknown machine's metadata", "GET", "/metadata?mac=52:54:00:00:00:99", 404, notFoundBody},
		{"bad mac syntax", "GET", "/ignition?mac=52:54:00:zz:bb:01", 400, `bad selector: mac "52:54:00:zz:bb:01": want aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff`},
		{"mac with mixed separators", "GET", "/ipxe?mac=52:54-00:aa:bb:01", 400, ""},
		{"short mac", "GET", "/ipxe?mac=52:54:00:aa:bb", 400, ""},
		{"bad mac in a cloud-init path", "GET", "/cloud-init/52-54-00-aa-bb-0g/user-data", 400, ""},
		{"bad uuid", "GET", "/ignition?uuid=not-a-uuid", 400, ""},
		{"bad hostname", "GET", "/ignition?hostname=under_score", 400, ""},
		{"mac given twice", "GET", "/ignition?mac=" + macEtcd1 + "&mac=" + macEtcd2, 400, "bad selector: mac given more than once"},
		{"no selector at all", "GET", "/ipxe", 400, noLabelsBody},
		{"only empty selectors", "GET", "/ignition?mac=&uuid=&hostname=", 400, noLabelsBody},
		{"source not in the allowlist", "GET", "/ignition?mac=" + macDenied, 403, forbidBody},
		{"source not a member IP", "GET", "/cloud-init/52-54-00-aa-bb-07/user-data", 403, forbidBody},
		{"allowlist guards the script too", "GET", "/ipxe?mac=" + macDenied, 403, forbidBody},
		{"unknown route", "GET", "/nodes/etcd1/ignition.json", 404, ""},
		{"tree files are not reachable", "GET", "/cloud-init/" + macEtcd1 + "/../../pki/ca.key", 404, ""},
		{"post", "POST", "/ignition?mac=" + macEtcd1, 405, ""},
		{"put", "PUT", "/boot.ipxe", 405, ""},
		{"delete", "DELETE", "/cloud-init/" + macEtcd1 + "/user-data", 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, tc.method, tc.target)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %q", r.status, tc.status, r.body)
			}
			if tc.body != "" && r.body != tc.body+"\n" {
				t.Errorf("body %q, want %q", r.body, tc.body+"\n")
			}
			if tc.status == http.StatusMethodNotAllowed {
				if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") {
					t.Errorf("Allow %q, want GET and HEAD", allow)
				}
			}
		})
	}
}

func TestAllowlistAdmitsListedSources(t *testing.T) {
	tr := newTree(t)
	s := startServer(t, testConfig(t, tr))
	r := do(t, s, http.MethodGet, "/ignition?mac="+macLoopback)
	if r.status != http.StatusOK {
		t.Fatalf("status %d, body %q", r.status, r.body)
	}
	if r.body != mustRead(t, filepath.Join(tr.out, "nodes", "etcd3", "ignition.json")) {
		t.Error("served another payload than etcd3's")
	}
}

func TestHeadAnswersGetsHeadersWithoutBody(t *testing.T) {
	s := startServer(t, testConfig(t, newTree(t)))
	for _, target := range []string{
		"/ignition?mac=" + macEtcd1,
		"/cloud-init/" + macEtcd1 + "/user-data",
		"/cloud-init/" + macEtcd1 + "/meta-data",
		"/ipxe?mac=" + macEtcd1,
		"/metadata?mac=" + macEtcd1,
		"/boot.ipxe",
		"/healthz",
	} {
		t.Run(target, func(t *testing.T) {
			get := do(t, s, http.MethodGet, target)
			head := do(t, s, http.MethodHead, target)
			if head.status != http.StatusOK || get.status != http.StatusOK {
				t.Fatalf("status HEAD %d, GET %d", head.status, get.status)
			}
			if head.body != "" {
				t.Errorf("HEAD returned a body of %d bytes", len(head.body))
			}
			if cl := head.header.Get("Content-Length"); cl != strconv.Itoa(len(get.body)) {
				t.Errorf("HEAD Content-Length %q, GET body is %d bytes", cl, len(get.body))
			}
			if head.header.Get("Content-Type") != get.header.Get("Content-Type") {
				t.Errorf("HEAD Content-Type %q, GET %q", head.header.Get("Content-Type"), get.header.Get("Content-Type"))
			}
		})
	}
}

func TestAccessLogNamesMachineAndSelector(t *testing.T) {
	cfg := testConfig(t, newTree(t))
	log, buf := testLogger(t)
	cfg.Logger = log
	s := startServer(t, cfg)
	do(t, s, http.MethodGet, "/ignition?mac=52-54-00-AA-BB-01")
	do(t, s, http.MethodGet, "/ignition?mac="+macDenied)
	logs := buf.String()
	for _, want := range []string{
		`msg="http request" method=GET path=/ignition selector="mac=52:54:00:aa:bb:01" machine=etcd1 status=200 bytes=`,
		`msg="payload fetch" payload=ignition outcome=served remote=127.0.0.1:`,
		`msg="payload fetch" payload=ignition outcome=forbidden remote=127.0.0.1:`,
		`selector="mac=52:54:00:aa:bb:06" machine=etcd3 status=403`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestPayloadOfAFormatTheNodeLacksIsNotFound(t *testing.T) {
	tr := newTree(t)
	if err := os.Remove(filepath.Join(tr.out, "nodes", "etcd2", "ignition.json")); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, testConfig(t, tr))
	// etcd2 now has only user-data: its member MAC boots Debian by default,
	// and /ignition has nothing to give.
	r := do(t, s, http.MethodGet, "/ignition?mac="+macEtcd2)
	if r.status != http.StatusNotFound || r.body != notFoundBody+"\n" {
		t.Errorf("status %d body %q, want 404 %q", r.status, r.body, notFoundBody)
	}
	if r := do(t, s, http.MethodGet, "/metadata?mac="+macEtcd2); !strings.Contains(r.body, "OS=debian\n") {
		t.Errorf("metadata %q: want OS=debian for a cloud-init-only node", r.body)
	}
}
