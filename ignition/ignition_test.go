package ignition

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"strings"
	"testing"

	v3_4 "github.com/coreos/ignition/v2/config/v3_4"
	"github.com/coreos/ignition/v2/config/v3_4/types"
	"github.com/vincent-petithory/dataurl"

	"github.com/etcdboot/etcdboot/spec"
)

var variants = []string{VariantFCOS, VariantFlatcar}

// testBundles are the shapes a node payload takes.
func testBundles(t *testing.T) map[string]Bundle {
	t.Helper()
	binary := placeholderBundle()
	raw := make([]byte, 512)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	binary.Files = append(binary.Files, File{Path: "/etc/etcdboot/pki/blob.der", Contents: raw})
	binary.Hostname = ""

	launch := placeholderBundle()
	launch.Payload.Node = nil
	launch.Payload.Members = nil
	launch.Payload.Autoscaling = &spec.Autoscaling{Size: 3, Subnets: []string{"10.0.0.0/24"}, Domain: "etcd.example.internal"}
	launch.Hostname = ""
	launch.PayloadPath = "/etc/etcdboot/launch.yaml"

	return map[string]Bundle{
		"three-node-placeholders": placeholderBundle(),
		"five-node-rsa":           rsaFiveMemberBundle(t),
		"binary-file":             binary,
		"launch-payload":          launch,
	}
}

// decodeIgnition parses data with Ignition's parser for spec 3.4.0 exactly
// and returns the config and the files it writes, contents decoded (and
// decompressed) the way Ignition does.
func decodeIgnition(t *testing.T, data []byte) (types.Config, map[string]wantFile) {
	t.Helper()
	cfg, rpt, err := v3_4.Parse(data)
	if err != nil || len(rpt.Entries) > 0 {
		t.Fatalf("Ignition parse: %v\n%s", err, rpt)
	}
	files := map[string]wantFile{}
	for _, f := range cfg.Storage.Files {
		if _, dup := files[f.Path]; dup {
			t.Errorf("%s appears twice", f.Path)
		}
		w := wantFile{Owner: "root"}
		if f.Mode != nil {
			w.Mode = fs.FileMode(*f.Mode)
		}
		user, group := "root", "root"
		if f.User.Name != nil {
			user = *f.User.Name
		}
		if f.Group.Name != nil {
			group = *f.Group.Name
		}
		if user != group {
			t.Errorf("%s: owned by %s:%s, want one name for both", f.Path, user, group)
		}
		w.Owner = user
		if f.Contents.Source != nil {
			w.Contents = decodeResource(t, f.Path, f.Contents)
		}
		for _, a := range f.Append {
			w.Append = true
			w.Contents = append(w.Contents, decodeResource(t, f.Path, a)...)
		}
		if w.Append && (f.Overwrite != nil && *f.Overwrite || f.Contents.Source != nil) {
			t.Errorf("%s: appended to but also overwritten: the image's file would be lost", f.Path)
		}
		if !w.Append && (f.Overwrite == nil || !*f.Overwrite) {
			t.Errorf("%s: not overwrite: true; a file the image ships would make Ignition fail", f.Path)
		}
		files[f.Path] = w
	}
	return cfg, files
}

func decodeResource(t *testing.T, path string, r types.Resource) []byte {
	t.Helper()
	if r.Source == nil {
		t.Fatalf("%s: resource without a source", path)
	}
	u, err := dataurl.DecodeString(*r.Source)
	if err != nil {
		t.Fatalf("%s: source is not a data URL: %v", path, err)
	}
	if r.Compression == nil || *r.Compression == "" {
		return u.Data
	}
	if *r.Compression != "gzip" {
		t.Fatalf("%s: compression %q", path, *r.Compression)
	}
	zr, err := gzip.NewReader(bytes.NewReader(u.Data))
	if err != nil {
		t.Fatalf("%s: gunzip: %v", path, err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: gunzip: %v", path, err)
	}
	return out
}

func TestRenderIgnitionWritesTheBundle(t *testing.T) {
	for name, b := range testBundles(t) {
		for _, variant := range variants {
			t.Run(name+"/"+variant, func(t *testing.T) {
				ign, err := RenderIgnition(b, variant)
				if err != nil {
					t.Fatalf("RenderIgnition: %v", err)
				}
				if err := ValidateIgnition(ign); err != nil {
					t.Fatalf("ValidateIgnition: %v", err)
				}
				cfg, files := decodeIgnition(t, ign)
				if cfg.Ignition.Version != "3.4.0" {
					t.Errorf("ignition.version = %q, want 3.4.0", cfg.Ignition.Version)
				}
				compareFiles(t, "ignition", expectedFiles(t, b, true), files)

				// No groups: groupadd fails on images that have the etcd group.
				if len(cfg.Passwd.Groups) != 0 {
					t.Errorf("passwd.groups = %+v, want none (useradd makes the user's group)", cfg.Passwd.Groups)
				}
				if len(cfg.Passwd.Users) != 1 {
					t.Fatalf("passwd.users = %+v, want the etcd user only", cfg.Passwd.Users)
				}
				u := cfg.Passwd.Users[0]
				if u.Name != EtcdUser || !isTrue(u.System) || !isTrue(u.NoCreateHome) ||
					u.PrimaryGroup != nil || deref(u.Shell) != "/usr/sbin/nologin" ||
					u.PasswordHash != nil || len(u.SSHAuthorizedKeys) > 0 {
					t.Errorf("etcd user = %+v, want a system user without home or login", u)
				}
				if len(cfg.Systemd.Units) != 1 {
					t.Fatalf("systemd.units = %+v, want the agent unit only", cfg.Systemd.Units)
				}
				unit := cfg.Systemd.Units[0]
				if unit.Name != AgentUnit || !isTrue(unit.Enabled) || unit.Contents != nil || len(unit.Dropins) > 0 || unit.Mask != nil {
					t.Errorf("unit = %+v, want %s enabled, contents from the image", unit, AgentUnit)
				}
			})
		}
	}
}

func TestButaneCompressesLargeInlineContents(t *testing.T) {
	// Butane v0.25.1 gzips an inline resource when the base64 of the gzip is
	// smaller than the URL-escaped text; node.yaml always is.
	b := rsaFiveMemberBundle(t)
	ign, err := RenderIgnition(b, VariantFCOS)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := decodeIgnition(t, ign)
	compressed := map[string]bool{}
	for _, f := range cfg.Storage.Files {
		compressed[f.Path] = f.Contents.Compression != nil && *f.Contents.Compression == "gzip"
	}
	if !compressed[spec.DefaultPayloadPath] {
		t.Errorf("node.yaml is not gzipped; Butane's automatic compression did not apply")
	}
	t.Logf("gzipped by Butane: %v", compressed)
}

func TestUnknownVariantIsAnError(t *testing.T) {
	for _, variant := range []string{"", "rhcos", "FCOS", "openshift", "fiot"} {
		if _, err := RenderButane(placeholderBundle(), variant); err == nil || !strings.Contains(err.Error(), `use "fcos" or "flatcar"`) {
			t.Errorf("RenderButane(%q) error = %v, want one naming the variants", variant, err)
		}
		if _, err := RenderIgnition(placeholderBundle(), variant); err == nil {
			t.Errorf("RenderIgnition(%q) succeeded, want an error", variant)
		}
	}
}

func TestRenderButaneNamesVariantAndVersion(t *testing.T) {
	for variant, version := range map[string]string{VariantFCOS: "1.5.0", VariantFlatcar: "1.1.0"} {
		bu, err := RenderButane(placeholderBundle(), variant)
		if err != nil {
			t.Fatal(err)
		}
		if head := "variant: " + variant + "\nversion: " + version + "\n"; !strings.HasPrefix(string(bu), head) {
			t.Errorf("%s: Butane config starts %q, want %q", variant, bu[:min(len(bu), 40)], head)
		}
	}
}

func TestValidateIgnition(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		wantErr      string // "" for a valid config
	}{
		{"minimal 3.4.0", `{"ignition":{"version":"3.4.0"}}`, ""},
		{"older spec 3.3.0", `{"ignition":{"version":"3.3.0"}}`, ""},
		{"spec 3.5.0 is newer than flatcar reads", `{"ignition":{"version":"3.5.0"}}`, "ignition rejects"},
		{"empty", ``, "ignition rejects"},
		{"not JSON", `variant: fcos`, "ignition rejects"},
		{"no version", `{"storage":{}}`, "ignition rejects"},
		{"relative file path", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"etc/x"}]}}`, "path not absolute"},
		{"bad data URL", `{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/x","contents":{"source":"data:;base64,%%%"}}]}}`, "ignition rejects"},
		{"unit without .service suffix", `{"ignition":{"version":"3.4.0"},"systemd":{"units":[{"name":"agent","enabled":true}]}}`, "ignition rejects"},
		{"unknown key is a warning, and fails", `{"ignition":{"version":"3.4.0"},"storrage":{}}`, "unused key storrage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateIgnition([]byte(tc.config))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("ValidateIgnition: %v, want nil", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("ValidateIgnition succeeded, want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("ValidateIgnition: %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestRenderingIsDeterministic(t *testing.T) {
	b := rsaFiveMemberBundle(t)
	reordered := b
	reordered.Files = append([]File(nil), b.Files...)
	for i, j := 0, len(reordered.Files)-1; i < j; i, j = i+1, j-1 {
		reordered.Files[i], reordered.Files[j] = reordered.Files[j], reordered.Files[i]
	}
	render := map[string]func(Bundle) ([]byte, error){
		"butane-fcos":    func(b Bundle) ([]byte, error) { return RenderButane(b, VariantFCOS) },
		"ignition-fcos":  func(b Bundle) ([]byte, error) { return RenderIgnition(b, VariantFCOS) },
		"ignition-flat":  func(b Bundle) ([]byte, error) { return RenderIgnition(b, VariantFlatcar) },
		"cloud-init":     RenderCloudInit,
		"hosts-fragment": func(b Bundle) ([]byte, error) { return []byte(HostsEntries(b.Payload.Members)), nil },
	}
	for name, f := range render {
		first, err := f(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for range 3 {
			again, err := f(b)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.Equal(first, again) {
				t.Errorf("%s: two renderings of one bundle differ", name)
			}
		}
		if other, err := f(reordered); err != nil || !bytes.Equal(first, other) {
			t.Errorf("%s: the order of Bundle.Files changes the rendering (err %v)", name, err)
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
