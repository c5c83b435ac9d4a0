package firewall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// metadataClientEnv, when set in the test binary's environment, makes it a
// one-shot HTTP client of the URL it holds instead of a test run.
const metadataClientEnv = "EBFW_METADATA_CLIENT"

// metadataUserData is what the fake metadata service serves as user data.
const metadataUserData = "#cloud-config\n# the node's private keys would be here\n"

// metadataClient GETs url and prints one line for the parent test: "ok BODY"
// (body quoted), "errno N" when the connection failed with a system error,
// or "error TEXT". It always exits 0: the line is the result.
func metadataClient(url string) int {
	c := http.Client{Timeout: reachTimeout}
	resp, err := c.Get(url)
	if err == nil {
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if rerr == nil {
			fmt.Printf("ok %q\n", body)
			return 0
		}
		err = rerr
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		fmt.Printf("errno %d\n", int(errno))
		return 0
	}
	fmt.Printf("error %q\n", err.Error())
	return 0
}

var (
	metadata4 = netip.MustParseAddr("169.254.169.254")
	metadata6 = netip.MustParseAddr("fd00:ec2::254")
)

// newMetadataLab is the lab with cli also playing the cloud's metadata
// service: both default metadata addresses sit on cli's end of the veth and
// srv reaches them on-link, as a VM reaches its hypervisor's; an HTTP server
// in cli serves user data on port 80 of both, and of other4.
func newMetadataLab(t *testing.T) *lab {
	t.Helper()
	l := newLab(t)
	l.cli.exec(t, "ip", "addr", "add", metadata4.String()+"/32", "dev", "ebfw1")
	l.cli.exec(t, "ip", "addr", "add", metadata6.String()+"/128", "dev", "ebfw1", "nodad")
	l.srv.exec(t, "ip", "route", "add", metadata4.String()+"/32", "dev", "ebfw0")
	l.srv.exec(t, "ip", "-6", "route", "add", metadata6.String()+"/128", "dev", "ebfw0")

	mux := http.NewServeMux()
	mux.HandleFunc("/latest/user-data", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, metadataUserData)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: reachTimeout}
	var wg sync.WaitGroup
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	// other4 is the same server on an address that is not the metadata
	// service's.
	for _, a := range []netip.Addr{metadata4, metadata6, other4} {
		var ln net.Listener
		err := l.cli.do(func() (err error) {
			ln, err = net.Listen("tcp", netip.AddrPortFrom(a, 80).String())
			return err
		})
		if err != nil {
			t.Fatalf("listen on %s in %s: %v", a, l.cli.name, err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = srv.Serve(ln) }()
	}
	return l
}

// metadataUser is a local user that asks the metadata service for the
// node's user data.
type metadataUser struct {
	name     string
	uid, gid uint32
}

// metadataUsers are root, etcd (the user the member runs as; nobody stands
// in where the user does not exist) and another unprivileged uid that has
// no passwd entry at all.
func metadataUsers(t *testing.T) []metadataUser {
	t.Helper()
	etcd := metadataUser{name: "nobody (for etcd, no such user here)", uid: 65534, gid: 65534}
	if u, err := user.Lookup("etcd"); err == nil {
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("user etcd: %v", err)
		}
		etcd = metadataUser{name: "etcd", uid: uint32(uid), gid: uint32(gid)}
	}
	return []metadataUser{
		{name: "root", uid: 0, gid: 0},
		etcd,
		{name: "uid 4242", uid: 4242, gid: 4242},
	}
}

// clientBinary copies the test binary where every user may run it: go test
// builds it in a directory only root can enter.
func clientBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", nsPrefix+"client-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "metadata-client")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// fetch runs bin as u inside ns (the child is forked from a thread switched
// into ns, so it starts there) and returns its one-line result.
func fetch(ns *netNS, bin string, u metadataUser, url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*reachTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{metadataClientEnv + "=" + url}
	cmd.Dir = "/"
	// Groups empty: the child drops root's supplementary groups too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}}
	var out []byte
	err := ns.do(func() (err error) {
		out, err = cmd.Output()
		return err
	})
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// metadataURL is the user-data URL of the fake metadata service at a.
func metadataURL(a netip.Addr) string {
	return "http://" + netip.AddrPortFrom(a, 80).String() + "/latest/user-data"
}

// checkMetadata has every user fetch the user data from both addresses:
// those for whom reach says true must get it, the others must be refused at
// once by the reject (EHOSTUNREACH for IPv4, EACCES for IPv6), never time out.
func checkMetadata(t *testing.T, stage string, ns *netNS, bin string, users []metadataUser, reach func(metadataUser) bool) {
	t.Helper()
	ok := fmt.Sprintf("ok %q", metadataUserData)
	type result struct {
		u    metadataUser
		addr netip.Addr
		got  string
		err  error
		took time.Duration
	}
	var results []*result
	var wg sync.WaitGroup
	for _, u := range users {
		for _, a := range []netip.Addr{metadata4, metadata6} {
			r := &result{u: u, addr: a}
			results = append(results, r)
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				r.got, r.err = fetch(ns, bin, u, metadataURL(a))
				r.took = time.Since(start)
			}()
		}
	}
	wg.Wait()
	for _, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("%s: %s (uid %d) -> %s: client: %v", stage, r.u.name, r.u.uid, r.addr, r.err)
		case reach(r.u) && r.got != ok:
			t.Errorf("%s: %s (uid %d) -> %s: got %s, want the user data", stage, r.u.name, r.u.uid, r.addr, r.got)
		case !reach(r.u):
			want := syscall.EHOSTUNREACH // ICMP admin-prohibited, IPv4
			if r.addr.Is6() {
				want = syscall.EACCES // ICMPv6 administratively prohibited
			}
			if r.got != fmt.Sprintf("errno %d", int(want)) {
				t.Errorf("%s: %s (uid %d) -> %s: got %s, want refused with %v (errno %d)", stage, r.u.name, r.u.uid, r.addr, r.got, want, int(want))
			}
			if r.took > reachTimeout {
				t.Errorf("%s: %s (uid %d) -> %s: refused after %v: a reject must fail at once", stage, r.u.name, r.u.uid, r.addr, r.took)
			}
		}
	}
}

func TestMetadataServiceIsRoots(t *testing.T) {
	l := newMetadataLab(t)
	bin := clientBinary(t)
	users := metadataUsers(t)
	everyone := func(metadataUser) bool { return true }
	rootOnly := func(u metadataUser) bool { return u.uid == 0 }

	// The lab works: without the table every user reads the user data.
	checkMetadata(t, "before Apply", l.srv, bin, users, everyone)

	p := DefaultPolicy()
	p.Peers = []netip.Addr{peer4, peer6}
	if err := Apply(p, WithNetNS(l.srv.fd)); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	checkMetadata(t, "after Apply", l.srv, bin, users, rootOnly)

	// Only the metadata addresses are concerned: the same users still reach
	// the same host on another address, and the etcd rules still work.
	for _, u := range users {
		got, err := fetch(l.srv, bin, u, metadataURL(other4))
		if want := fmt.Sprintf("ok %q", metadataUserData); err != nil || got != want {
			t.Errorf("after Apply: %s (uid %d) -> %s: got %s %v, want the user data", u.name, u.uid, other4, got, err)
		}
	}
	check(t, "after Apply", []probe{
		{ns: l.cli, src: peer4, dst: srvAddr4, port: DefaultPeerPort, reach: true},
		{ns: l.cli, src: other4, dst: srvAddr4, port: DefaultPeerPort, reach: false},
	})

	// Packets without a local socket owner go through: the kernel's own RST
	// for a closed port, sent to a metadata address, reaches it (refused,
	// not rejected by ICMP nor dropped).
	const closedPort = 2999
	for _, src := range []netip.Addr{metadata4, metadata6} {
		dst := srvAddr4
		if src.Is6() {
			dst = srvAddr6
		}
		_, err := dial(l.cli, src, netip.AddrPortFrom(dst, closedPort), reachTimeout)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("from %s to a closed port: err = %v, want the kernel's RST (connection refused)", src, err)
		}
	}

	// A list of its own replaces the defaults: only the IPv6 address stays
	// root's.
	q := p
	q.MetadataAddrs = []netip.Addr{metadata6}
	if err := Apply(q, WithNetNS(l.srv.fd)); err != nil {
		t.Fatalf("Apply of IPv6 only: %v", err)
	}
	for _, u := range users {
		for _, a := range []netip.Addr{metadata4, metadata6} {
			got, err := fetch(l.srv, bin, u, metadataURL(a))
			reached := err == nil && strings.HasPrefix(got, "ok ")
			if want := u.uid == 0 || a.Is4(); reached != want {
				t.Errorf("IPv6 only: %s (uid %d) -> %s: got %s %v, want reached %v", u.name, u.uid, a, got, err, want)
			}
		}
	}

	// Turned off: the output chain goes and everyone reads the user data.
	off := p
	off.MetadataAddrs = nil
	if err := Apply(off, WithNetNS(l.srv.fd)); err != nil {
		t.Fatalf("Apply without metadata addresses: %v", err)
	}
	if listing := l.srv.listTable(t, DefaultTable, false); strings.Contains(listing, "chain "+outputChainName) {
		t.Errorf("output chain left after turning the restriction off:\n%s", listing)
	}
	checkMetadata(t, "turned off", l.srv, bin, users, everyone)

	if err := Apply(p, WithNetNS(l.srv.fd)); err != nil {
		t.Fatalf("Apply again: %v", err)
	}
	checkMetadata(t, "turned on again", l.srv, bin, users, rootOnly)
	if err := Remove("", WithNetNS(l.srv.fd)); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	checkMetadata(t, "after Remove", l.srv, bin, users, everyone)
}
