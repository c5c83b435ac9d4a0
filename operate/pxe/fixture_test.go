package pxe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/generate"
)

// fixtureSpec is the cluster every test serves: etcd1 and etcd2 carry MACs
// (written in two syntaxes and mixed case, as operators do), etcd3 has none
// and is reached through groups only.
const fixtureSpec = `apiVersion: etcdboot/v1
name: lab
members:
  - name: etcd1
    ips: [10.123.0.11]
    mac: 52:54:00:AA:bb:01
  - name: etcd2
    ips: [10.123.0.12]
    mac: 52-54-00-aa-bb-02
  - name: etcd3
    ips: [10.123.0.13]
`

// fixtureGroups adds machines for every profile and restriction under test.
const fixtureGroups = `# machines beyond the members' own MACs
- selector: {uuid: 4C4C4544-0042-3510-8051-B4C04F4D3232}
  node: etcd3
  profile:
    os: flatcar
    args: ["console=ttyS0,115200n8"]
- selector: {hostname: Debian-Box.lab}
  node: etcd2
  profile:
    os: debian
    kernel: http://mirror.example.test/debian/vmlinuz
    initrd: [http://mirror.example.test/debian/initrd.img]
    rootfs: http://mirror.example.test/debian/filesystem.squashfs
    args: [boot=live, ip=dhcp, console=ttyS0]
- selector: {mac: 52:54:00:aa:bb:04}
  node: etcd1
  profile: {os: fcos, installDevice: /dev/sda, args: [console=tty0]}
- selector: {mac: 52:54:00:aa:bb:06}
  node: etcd3
  allow: [192.0.2.0/24]
- selector: {mac: 52:54:00:aa:bb:07}
  node: etcd3
  allowMemberIPs: true
- selector: {mac: 52:54:00:aa:bb:08}
  node: etcd2
  profile: {format: cloud-init}
- selector: {mac: 52:54:00:aa:bb:09}
  node: etcd3
  allow: [192.0.2.7, 127.0.0.0/8]
`

// Identifiers of the fixture's machines.
const (
	macEtcd1       = "52:54:00:aa:bb:01"
	macEtcd2       = "52:54:00:aa:bb:02"
	macFCOSInstall = "52:54:00:aa:bb:04"
	macDenied      = "52:54:00:aa:bb:06"
	macMemberOnly  = "52:54:00:aa:bb:07"
	macDebianDef   = "52:54:00:aa:bb:08"
	macLoopback    = "52:54:00:aa:bb:09"
	uuidFlatcar    = "4c4c4544-0042-3510-8051-b4c04f4d3232"
	hostDebian     = "debian-box.lab"
)

// fixtureDir is a generated out/ tree (and groups.yaml beside it), made
// once by the real generator; each test serves a copy of it.
var fixtureDir string

func TestMain(m *testing.M) {
	code, err := runWithFixture(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve tests:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runWithFixture(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "etcdboot-serve-fixture-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	specPath := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(specPath, []byte(fixtureSpec), 0o644); err != nil {
		return 0, err
	}
	if _, err := generate.Run(generate.Options{SpecPath: specPath, OutDir: filepath.Join(dir, "out")}); err != nil {
		return 0, fmt.Errorf("generate the fixture tree: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "groups.yaml"), []byte(fixtureGroups), 0o644); err != nil {
		return 0, err
	}
	fixtureDir = dir
	return m.Run(), nil
}

// tree is one test's copy of the fixture.
type tree struct {
	out    string // the out/ directory
	groups string // groups.yaml
}

// newTree copies the fixture into the test's temporary directory.
func newTree(t testing.TB) tree {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(fixtureDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(fixtureDir, path)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy fixture: %v", err)
	}
	return tree{out: filepath.Join(dst, "out"), groups: filepath.Join(dst, "groups.yaml")}
}

// syncBuffer is a log destination tests can read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger logs to the test's output (shown on failure or with -v) and to
// the returned buffer.
func testLogger(t testing.TB) (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	h := slog.NewTextHandler(io.MultiWriter(t.Output(), buf), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), buf
}

// testConfig serves tr on a free loopback port with polling off.
func testConfig(t testing.TB, tr tree) Config {
	log, _ := testLogger(t)
	return Config{
		Dir:            tr.out,
		Listen:         "127.0.0.1:0",
		GroupsFile:     tr.groups,
		ReloadInterval: -1,
		Logger:         log,
	}
}

// startServer starts a server for cfg and shuts it down when the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { stopServer(t, s) })
	return s
}

func stopServer(t testing.TB, s *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, ErrServerClosed) {
		t.Errorf("Shutdown: %v", err)
	}
}

// response is what a test looks at.
type response struct {
	status int
	header http.Header
	body   string
}

var testClient = &http.Client{Timeout: 10 * time.Second}

// do sends one request to the server s and reads the whole answer.
func do(t testing.TB, s *Server, method, target string) response {
	t.Helper()
	return doWith(t, testClient, "http://"+s.Addr(), method, target)
}

func doWith(t testing.TB, c *http.Client, base, method, target string) response {
	t.Helper()
	req, err := http.NewRequest(method, base+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(body)}
}

// mustRead reads a file of the tree.
func mustRead(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// eventually retries cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tlsClient trusts only the CA in caFile.
func tlsClient(t testing.TB, pool *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pool}}
}
