package firewall

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	reachTimeout = 2 * time.Second        // generous: ARP/ND on first contact
	dropTimeout  = 500 * time.Millisecond // a dropped SYN only ever times out
)

// lab is two namespaces joined by a veth pair: srv is the protected member,
// cli holds every source address the tests connect from.
type lab struct {
	srv, cli *netNS
}

var (
	srvAddr4 = netip.MustParseAddr("10.123.250.1")
	srvAddr6 = netip.MustParseAddr("fd00:123:250::1")
	peer4    = netip.MustParseAddr("10.123.250.2")
	client4  = netip.MustParseAddr("10.123.250.3")
	monitor4 = netip.MustParseAddr("10.123.250.4")
	other4   = netip.MustParseAddr("10.123.250.5")
	peer6    = netip.MustParseAddr("fd00:123:250::2")
	other6   = netip.MustParseAddr("fd00:123:250::5")
)

// openPort is not filtered: it shows the rest of the host stays reachable.
const openPort = 2383

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{srv: newNetNS(t), cli: newNetNS(t)}
	// Created straight inside the namespaces: no name in the root namespace.
	run(t, "ip", "link", "add", "ebfw0", "netns", l.srv.name, "type", "veth", "peer", "name", "ebfw1", "netns", l.cli.name)
	l.srv.exec(t, "ip", "addr", "add", srvAddr4.String()+"/24", "dev", "ebfw0")
	l.srv.exec(t, "ip", "addr", "add", srvAddr6.String()+"/64", "dev", "ebfw0", "nodad")
	l.srv.exec(t, "ip", "link", "set", "ebfw0", "up")
	for _, a := range []netip.Addr{peer4, client4, monitor4, other4} {
		l.cli.exec(t, "ip", "addr", "add", a.String()+"/24", "dev", "ebfw1")
	}
	for _, a := range []netip.Addr{peer6, other6} {
		l.cli.exec(t, "ip", "addr", "add", a.String()+"/64", "dev", "ebfw1", "nodad")
	}
	l.cli.exec(t, "ip", "link", "set", "ebfw1", "up")
	for _, port := range []int{int(DefaultClientPort), int(DefaultPeerPort), int(DefaultMetricsPort), int(DefaultAgentMetricsPort), openPort} {
		l.listen(t, port)
	}
	return l
}

// listen starts a dual-stack TCP echo server on port inside srv.
func (l *lab) listen(t *testing.T, port int) {
	t.Helper()
	var ln net.Listener
	err := l.srv.do(func() (err error) {
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("listen on %d in %s: %v", port, l.srv.name, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
}

// dial connects from src (the zero Addr: let the kernel pick) in ns.
func dial(ns *netNS, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	var c net.Conn
	err := ns.do(func() (err error) {
		// The socket is created on this thread, so in ns; it stays there.
		c, err = d.Dial("tcp", dst.String())
		return err
	})
	return c, err
}

// probe is one connection attempt and its expected outcome.
type probe struct {
	ns    *netNS
	src   netip.Addr
	dst   netip.Addr
	port  uint16
	reach bool
}

func (p probe) String() string {
	src := "auto"
	if p.src.IsValid() {
		src = p.src.String()
	}
	return fmt.Sprintf("%s -> %s", src, netip.AddrPortFrom(p.dst, p.port))
}

// check runs the probes in parallel (a dropped one costs dropTimeout) and
// reports each that did not behave: blocked must mean timed out, not refused.
func check(t *testing.T, stage string, probes []probe) {
	t.Helper()
	errs := make([]error, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout := dropTimeout
			if p.reach {
				timeout = reachTimeout
			}
			c, err := dial(p.ns, p.src, netip.AddrPortFrom(p.dst, p.port), timeout)
			var nerr net.Error
			switch {
			case p.reach && err != nil:
				errs[i] = fmt.Errorf("%s: want connected, got %w", p, err)
			case !p.reach && err == nil:
				c.Close()
				errs[i] = fmt.Errorf("%s: want dropped, but it connected", p)
			case !p.reach && !(errors.As(err, &nerr) && nerr.Timeout()):
				errs[i] = fmt.Errorf("%s: want a timeout (dropped), got %w", p, err)
			case err == nil:
				c.Close()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", stage, err)
		}
	}
}

func TestTrafficFollowsPolicy(t *testing.T) {
	l := newLab(t)
	const cport, pport, mport, aport = DefaultClientPort, DefaultPeerPort, DefaultMetricsPort, DefaultAgentMetricsPort
	from := func(src netip.Addr, port uint16, reach bool) probe {
		dst := srvAddr4
		if src.Is6() {
			dst = srvAddr6
		}
		return probe{ns: l.cli, src: src, dst: dst, port: port, reach: reach}
	}
	local := func(dst netip.Addr, port uint16, reach bool) probe {
		return probe{ns: l.srv, dst: dst, port: port, reach: reach}
	}
	lo4, lo6 := netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()

	// Without a firewall everything connects: the lab itself works.
	var open []probe
	for _, src := range []netip.Addr{peer4, other4, other6} {
		for _, port := range []uint16{cport, pport, mport, aport} {
			open = append(open, from(src, port, true))
		}
	}
	check(t, "before Apply", open)

	p := DefaultPolicy()
	p.Peers = []netip.Addr{peer4, peer6}
	p.ClientCIDRs = prefixes("10.123.250.0/30") // .0-.3: client4 (and peer4)
	p.MonitoringCIDRs = prefixes("10.123.250.4/32")
	if err := Apply(p, WithNetNS(l.srv.fd)); err != nil {
		t.Fatalf("Apply: %v", err)
	}

	// An established peer connection must survive later policy changes:
	// the rules are stateless, and a replace is one atomic batch.
	established, err := dial(l.cli, peer4, netip.AddrPortFrom(srvAddr4, pport), reachTimeout)
	if err != nil {
		t.Fatalf("peer connection: %v", err)
	}
	defer established.Close()
	echo(t, established, "before")

	check(t, "after Apply", []probe{
		from(peer4, pport, true), from(peer4, cport, true), from(peer4, mport, false),
		from(client4, pport, false), from(client4, cport, true), from(client4, mport, false),
		from(monitor4, pport, false), from(monitor4, cport, false), from(monitor4, mport, true),
		from(other4, pport, false), from(other4, cport, false), from(other4, mport, false),
		from(peer6, pport, true), from(peer6, cport, true), from(peer6, mport, false),
		from(other6, pport, false), from(other6, cport, false), from(other6, mport, false),
		from(peer4, aport, false), from(client4, aport, false), from(monitor4, aport, true),
		from(other4, aport, false), from(peer6, aport, false), from(other6, aport, false),
		from(other4, openPort, true), from(other6, openPort, true),
		local(lo4, cport, true), local(lo4, mport, true), local(lo4, aport, true), local(lo4, pport, false),
		local(lo6, cport, true), local(lo6, mport, true), local(lo6, aport, true), local(lo6, pport, false),
	})

	q := p
	q.MonitoringCIDRs = append(q.MonitoringCIDRs, prefixes("10.123.250.5/32")...)
	if err := Apply(q, WithNetNS(l.srv.fd)); err != nil {
		t.Fatalf("Apply changed policy: %v", err)
	}
	echo(t, established, "after a table replace")
	check(t, "after Apply of more monitoring CIDRs", []probe{from(other4, mport, true), from(other4, aport, true), from(peer4, pport, true)})

	if err := ReplacePeers("", []netip.Addr{other4, other6}, WithNetNS(l.srv.fd)); err != nil {
		t.Fatalf("ReplacePeers: %v", err)
	}
	check(t, "after ReplacePeers", []probe{
		from(peer4, pport, false), from(peer4, cport, true), // still a client CIDR
		from(peer6, pport, false), from(peer6, cport, false),
		from(other4, pport, true), from(other4, cport, true),
		from(other6, pport, true), from(other6, cport, true),
		from(client4, cport, true), from(monitor4, mport, true),
	})

	if err := Remove("", WithNetNS(l.srv.fd)); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	check(t, "after Remove", open)
}

// echo round-trips msg over c, failing the test if the connection stalls.
func echo(t *testing.T, c net.Conn, stage string) {
	t.Helper()
	if err := c.SetDeadline(time.Now().Add(reachTimeout)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(stage))
	if _, err := c.Write([]byte(stage)); err != nil {
		t.Fatalf("established connection %s: write: %v", stage, err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != stage {
		t.Fatalf("established connection %s: read %q, %v", stage, buf, err)
	}
}

// TestHeldPeersAreRefusedAtOnce: while the peer port is held, a member's
// connection to it is reset, refused at once where a drop would leave it
// waiting, any other source is still dropped there, and the member's other
// ports are untouched, and the node itself still reaches its peer port
// (over lo); lifting the hold lets the members in again.
func TestHeldPeersAreRefusedAtOnce(t *testing.T) {
	l := newLab(t)
	p := DefaultPolicy()
	p.Peers = []netip.Addr{peer4, peer6, srvAddr4, srvAddr6}
	p.HoldPeers = true
	if err := Apply(p, l.srv.opt()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ src, dst netip.Addr }{{peer4, srvAddr4}, {peer6, srvAddr6}} {
		start := time.Now()
		conn, err := dial(l.cli, c.src, netip.AddrPortFrom(c.dst, DefaultPeerPort), reachTimeout)
		if err == nil {
			conn.Close()
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%s -> held peer port: want connection refused, got %v after %v", c.src, err, time.Since(start))
		}
	}
	check(t, "held", []probe{
		{ns: l.cli, src: other4, dst: srvAddr4, port: DefaultPeerPort, reach: false},
		{ns: l.cli, src: peer4, dst: srvAddr4, port: DefaultClientPort, reach: true},
		{ns: l.srv, src: srvAddr4, dst: srvAddr4, port: DefaultPeerPort, reach: true},
		{ns: l.srv, src: srvAddr6, dst: srvAddr6, port: DefaultPeerPort, reach: true},
	})
	p.HoldPeers = false
	if err := Apply(p, l.srv.opt()); err != nil {
		t.Fatal(err)
	}
	check(t, "lifted", []probe{
		{ns: l.cli, src: peer4, dst: srvAddr4, port: DefaultPeerPort, reach: true},
		{ns: l.cli, src: peer6, dst: srvAddr6, port: DefaultPeerPort, reach: true},
		{ns: l.cli, src: other4, dst: srvAddr4, port: DefaultPeerPort, reach: false},
	})
}
