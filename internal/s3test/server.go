package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// Version is the SeaweedFS module version the Makefile builds (SEAWEEDFS_VERSION).
const Version = "v0.0.0-20261109003541-7506e5f91cd6"

// Region is the region the server's URLs name; SeaweedFS accepts any.
const Region = "us-east-1"

// startTimeout bounds how long weed may take to answer S3 requests.
const startTimeout = 90 * time.Second

// Options say where the server listens.
type Options struct {
	// IP is the address every port binds to; default 127.0.0.1. A lab's
	// HostAddr makes it reachable from the lab's namespaces.
	IP string
	// S3Port is the S3 gateway's port; 0 picks a free one (a test that must
	// name the endpoint before the address exists picks it with FreePort).
	S3Port int
	// Bucket is created once the server answers; default "etcdboot".
	Bucket string
}

// Server is a running weed server with its S3 gateway.
type Server struct {
	// Endpoint is the S3 gateway's URL, http://IP:PORT.
	Endpoint string
	// Bucket exists and is empty when Start returns.
	Bucket string
	// AccessKey and SecretKey are the one identity the gateway accepts.
	AccessKey, SecretKey string
	// Dir holds weed's data and its log (weed.log).
	Dir string
	cmd *exec.Cmd
}

// Binary returns the weed binary, failing the test when
// ETCDBOOT_E2E_REQUIRED=1 and skipping it otherwise when there is none.
// It looks at $ETCDBOOT_WEED, then $ETCDBOOT_BIN/seaweedfs-Version/weed,
// then the module's bin/seaweedfs-Version/weed.
func Binary(tb testing.TB) string {
	tb.Helper()
	var tried []string
	if p := os.Getenv("ETCDBOOT_WEED"); p != "" {
		tried = append(tried, p)
	}
	if dir := os.Getenv("ETCDBOOT_BIN"); dir != "" {
		tried = append(tried, filepath.Join(dir, "seaweedfs-"+Version, "weed"))
	}
	if root, err := moduleRoot(); err == nil {
		tried = append(tried, filepath.Join(root, "bin", "seaweedfs-"+Version, "weed"))
	}
	for _, p := range tried {
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	msg := fmt.Sprintf("no SeaweedFS weed binary (looked at %s); run make seaweedfs", strings.Join(tried, ", "))
	if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// moduleRoot finds the directory of this module's go.mod from the caller's
// working directory (a package directory under go test).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/etcdboot/etcdboot\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the etcdboot module")
		}
		dir = parent
	}
}

// FreePort returns a TCP port free on ip (127.0.0.1 when empty) now,
// claimed for the test's lifetime as etcdtest.FreePorts claims its own.
func FreePort(tb testing.TB, ip string) int {
	tb.Helper()
	if ip == "" {
		ip = "127.0.0.1"
	}
	return etcdtest.FreePortsOn(tb, ip, 1)[0]
}

// Start starts weed server with its S3 gateway, waits until the gateway
// answers signed requests, creates the bucket, and stops the server in
// t.Cleanup: SIGTERM, then SIGKILL a few seconds later (weed does not exit
// on SIGTERM promptly).
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin := Binary(tb)
	if opts.IP == "" {
		opts.IP = "127.0.0.1"
	}
	if opts.Bucket == "" {
		opts.Bucket = "etcdboot"
	}
	dir := tb.TempDir()
	s := &Server{Bucket: opts.Bucket, AccessKey: "etcdboot" + randHex(4), SecretKey: randHex(20), Dir: dir}
	// master, volume, filer and their grpc ports; the S3 gateway's own.
	ports := etcdtest.FreePortsOn(tb, opts.IP, 8)
	if opts.S3Port == 0 {
		opts.S3Port = ports[7]
	}
	s.Endpoint = "http://" + net.JoinHostPort(opts.IP, strconv.Itoa(opts.S3Port))
	config := filepath.Join(dir, "s3.json")
	if err := writeIdentity(config, s.AccessKey, s.SecretKey); err != nil {
		tb.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		tb.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	args := []string{"server",
		"-dir=" + data, "-ip=" + opts.IP, "-ip.bind=" + opts.IP,
		"-master.port=" + strconv.Itoa(ports[0]), "-master.port.grpc=" + strconv.Itoa(ports[1]),
		"-volume.port=" + strconv.Itoa(ports[2]), "-volume.port.grpc=" + strconv.Itoa(ports[3]),
		"-filer.port=" + strconv.Itoa(ports[4]), "-filer.port.grpc=" + strconv.Itoa(ports[5]),
		"-s3", "-s3.port=" + strconv.Itoa(opts.S3Port), "-s3.port.grpc=" + strconv.Itoa(ports[6]),
		"-s3.config=" + config,
		// Its Iceberg and Lance catalogs would listen on fixed ports.
		"-s3.port.iceberg=0", "-s3.port.lance=0",
		// Small volumes: the default preallocates gigabytes per volume.
		"-master.volumeSizeLimitMB=256", "-volume.max=16",
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", bin, err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() { s.stop(exited) })
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.waitAndCreateBucket(ctx, exited); err != nil {
		tb.Fatalf("seaweedfs at %s: %v\n%s", s.Endpoint, err, s.LogTail(40))
	}
	return s
}

// stop ends weed firmly: SIGTERM to its process group, SIGKILL after 3s.
func (s *Server) stop(exited <-chan struct{}) {
	pgid := -s.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-exited:
		return
	case <-time.After(3 * time.Second):
	}
	_ = syscall.Kill(pgid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
}

// writeIdentity writes the gateway's identity file: one key pair with
// every action, so unsigned or wrongly signed requests are refused.
func writeIdentity(path, access, secret string) error {
	type cred struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string   `json:"name"`
		Credentials []cred   `json:"credentials"`
		Actions     []string `json:"actions"`
	}
	doc := map[string][]identity{"identities": {{
		Name:        "etcdboot",
		Credentials: []cred{{access, secret}},
		Actions:     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}}
	data, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// waitAndCreateBucket creates the bucket as soon as the gateway takes it.
func (s *Server) waitAndCreateBucket(ctx context.Context, exited <-chan struct{}) error {
	cli := s.Client()
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cli.CreateBucket(rctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)})
		if err == nil {
			_, err = cli.HeadBucket(rctx, &s3.HeadBucketInput{Bucket: aws.String(s.Bucket)})
		}
		cancel()
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("weed exited: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("no bucket after %v: %w", startTimeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Client returns an S3 client signed with the server's key, path style.
func (s *Server) Client() *s3.Client {
	return s.ClientWith(s.AccessKey, s.SecretKey)
}

// ClientWith returns an S3 client for the server signed with another key,
// for tests of refused credentials.
func (s *Server) ClientWith(access, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region:           Region,
		BaseEndpoint:     aws.String(s.Endpoint),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider(access, secret, ""),
		HTTPClient:       &http.Client{Timeout: 30 * time.Second},
		RetryMaxAttempts: 1,
	})
}

// URL returns the s3:// target URL of prefix in the server's bucket, the
// way backup.target spells it for an S3-compatible store.
func (s *Server) URL(prefix string) string {
	q := url.Values{"region": {Region}, "endpoint": {s.Endpoint}, "use_path_style": {"true"}}
	u := url.URL{Scheme: "s3", Host: s.Bucket, Path: "/" + strings.Trim(prefix, "/"), RawQuery: q.Encode()}
	if prefix == "" {
		u.Path = ""
	}
	return u.String()
}

// Env is the environment an AWS SDK client (the agent, etcdboot) needs to
// sign with the server's key and not look for an instance role.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_REGION=" + Region,
	}
}

// SetEnv sets Env in the test's own environment (t.Setenv), for code
// under test that opens targets in this process.
func (s *Server) SetEnv(t *testing.T) {
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	// The shared config files of whoever runs the tests must not interfere.
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(s.Dir, "no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(s.Dir, "no-aws-credentials"))
	t.Setenv("AWS_PROFILE", "")
}

// LogTail returns weed's last n log lines.
func (s *Server) LogTail(n int) string {
	data, _ := os.ReadFile(filepath.Join(s.Dir, "weed.log"))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
