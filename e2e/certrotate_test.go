package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/etcdboot/etcdboot/e2e/netlab"
	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/pki"
)

// etcdProcess identifies a running etcd: its pid and the kernel's start time
// of that pid, so a restart on a reused pid is caught too.
type etcdProcess struct {
	pid       int
	startTime string
}

// etcdOf reads the pid the node's agent supervises and its start time.
func etcdOf(n *testcluster.Node) (etcdProcess, error) {
	data, err := os.ReadFile(filepath.Join(n.StateDir(), "etcd.pid"))
	if err != nil {
		return etcdProcess{}, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return etcdProcess{}, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return etcdProcess{}, fmt.Errorf("etcd of %s (pid %d) is not running: %w", n.Name, pid, err)
	}
	// Fields after the command name in parentheses start at field 3;
	// starttime is field 22.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) < 20 {
		return etcdProcess{}, fmt.Errorf("/proc/%d/stat: %q", pid, stat)
	}
	return etcdProcess{pid: pid, startTime: fields[19]}, nil
}

// handshakeSerial makes a new TLS handshake with addr, from inside host h (nil:
// the root namespace), and returns the serial of the certificate served.
func handshakeSerial(h *netlab.Host, addr string, conf *tls.Config) (string, error) {
	dial := func() (string, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, conf.Clone())
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return serialOf(conn.ConnectionState().PeerCertificates[0]), nil
	}
	if h == nil {
		return dial()
	}
	type result struct {
		serial string
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		// Never unlocked: the thread, in h's namespace, ends with the goroutine.
		runtime.LockOSThread()
		fd, err := h.NSFd()
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer syscall.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("enter %s: %w", h.Name, err)}
			return
		}
		s, err := dial()
		ch <- result{s, err}
	}()
	r := <-ch
	return r.serial, r.err
}

func serialOf(c *x509.Certificate) string { return strings.ToUpper(c.SerialNumber.Text(16)) }

// fileSerial is the serial of a certificate file.
func fileSerial(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return serialOf(certs[0])
}

// TestCertificateRotationUnderWriteLoad rotates every certificate with
// `etcdboot certs rotate` while a client writes without pause, delivers each
// member its new user-data with `etcdboot-agent certs install`, and expects:
// etcd never restarts, new handshakes on the client, peer, metrics and agent
// ports present the new certificates, no more than one put failed (and its
// retry succeeded), and every write is there.
func TestCertificateRotationUnderWriteLoad(t *testing.T) {
	c := newCluster(t, testcluster.Options{Members: 3})
	startHealthy(t, c)

	// The writer keeps the admin certificate it started with: still valid
	// under the same CA, and out/pki is rewritten during the rotation.
	adminDir := t.TempDir()
	admin := c.AdminTLS()
	w := &loadWriter{endpoints: c.Endpoints(), prefix: "/rotate/", files: tlsfiles.Files{
		CAFile: filepath.Join(adminDir, "ca.crt"), CertFile: filepath.Join(adminDir, "admin.crt"), KeyFile: filepath.Join(adminDir, "admin.key")}}
	for src, dst := range map[string]string{admin.CAFile: w.files.CAFile, admin.CertFile: w.files.CertFile, admin.KeyFile: w.files.KeyFile} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	probeTLS, err := w.files.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}

	pkiDir := pki.Dir{Path: filepath.Join(c.Out, "pki")}
	// served returns, per node, the serials new handshakes get on each port:
	// client, metrics and agent from the root namespace (a client and
	// monitoring address), peer from the next member (only peers reach it).
	served := func() map[string]map[int]string {
		out := map[string]map[int]string{}
		for i, n := range c.Nodes {
			out[n.Name] = map[int]string{}
			for _, port := range []int{2379, 2380, 2381, 2382} {
				var from *netlab.Host
				if port == 2380 {
					from = c.Nodes[(i+1)%len(c.Nodes)].Host
				}
				s, err := handshakeSerial(from, netip.AddrPortFrom(n.Addr, uint16(port)).String(), probeTLS)
				if err != nil {
					t.Errorf("%s:%d: handshake: %v", n.Name, port, err)
				}
				out[n.Name][port] = s
			}
		}
		return out
	}
	want := func() map[string]map[int]string {
		out := map[string]map[int]string{}
		for _, n := range c.Nodes {
			server, peer := fileSerial(t, pkiDir.CertPath(n.Name+"-server")), fileSerial(t, pkiDir.CertPath(n.Name+"-peer"))
			out[n.Name] = map[int]string{2379: server, 2380: peer, 2381: server, 2382: server}
		}
		return out
	}
	before := want()
	if got := served(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("before rotation, members serve %v, want the generated %v", got, before)
	}
	procs := map[string]etcdProcess{}
	for _, n := range c.Nodes {
		p, err := etcdOf(n)
		if err != nil {
			t.Fatal(err)
		}
		procs[n.Name] = p
	}

	stopWriter := w.start(t)
	waitWrites := func(n int) { t.Helper(); w.waitFor(t, n) }
	waitWrites(100)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rotate := exec.CommandContext(ctx, filepath.Join(c.Opts.Bin, "etcdboot"), "certs", "rotate",
		"-f", filepath.Join(c.Opts.WorkDir, "cluster.yaml"), "-o", c.Out)
	if out, err := rotate.CombinedOutput(); err != nil {
		t.Fatalf("etcdboot certs rotate: %v\n%s", err, out)
	} else {
		t.Logf("etcdboot certs rotate:\n%s", out)
	}
	after := want()
	for _, n := range c.Nodes {
		for port, s := range after[n.Name] {
			if s == before[n.Name][port] {
				t.Fatalf("certs rotate did not reissue %s's certificate for port %d (serial %s)", n.Name, port, s)
			}
		}
	}

	// The rollout: one member after the other, under load.
	for _, n := range c.Nodes {
		at := w.count()
		argv := []string{filepath.Join(c.Opts.Bin, "etcdboot-agent"), "certs", "install",
			"--user-data", filepath.Join(c.Out, "nodes", n.Name, "user-data"),
			"--payload", n.PayloadPath(), "--root", n.Root, "--state-dir", n.StateDir()}
		out, err := n.Host.Run(ctx, argv...)
		if err != nil {
			t.Fatalf("certs install on %s: %v", n.Name, err)
		}
		t.Logf("%s: etcdboot-agent certs install:\n%s", n.Name, out)
		if strings.Count(string(out), "installed") != 2 {
			t.Errorf("%s: want the server and the peer pair installed:\n%s", n.Name, out)
		}
		waitWrites(at + 100)
	}
	// Keep writing (and reconnecting) on the new certificates for a while.
	time.Sleep(3 * time.Second)
	waitWrites(w.count() + 100)
	stopWriter()

	if got := served(); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Errorf("after the rollout, new handshakes get %v, want the rotated %v", got, after)
	}
	for _, n := range c.Nodes {
		p, err := etcdOf(n)
		if err != nil {
			t.Errorf("%s: %v", n.Name, err)
			continue
		}
		if p != procs[n.Name] {
			t.Errorf("etcd of %s restarted: was pid %d started at %s, now pid %d started at %s", n.Name, procs[n.Name].pid, procs[n.Name].startTime, p.pid, p.startTime)
		}
		select {
		case <-n.Agent.Exited():
			t.Errorf("the agent of %s exited: %v", n.Name, n.Agent.ExitErr())
		default:
		}
	}
	// Every write is there, read through a fresh client on the new certificates.
	kvs := w.check(ctx, t, c)
	for i, kv := range kvs {
		if want := fmt.Sprintf("/rotate/%06d", i); string(kv.Key) != want || string(kv.Value) != strconv.Itoa(i) {
			t.Errorf("key %d is %s=%s, want %s=%d", i, kv.Key, kv.Value, want, i)
			break
		}
	}
}
