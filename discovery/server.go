package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/etcdboot/etcdboot/internal/lifecycle"
	"github.com/etcdboot/etcdboot/spec"
)

// ServerConfig configures an authoritative DNS server for one zone.
type ServerConfig struct {
	// ZoneFile is the zone's RFC 1035 file: read at start, rewritten
	// atomically after every accepted update (in canonical form: comments
	// and layout of a hand-written file are not kept).
	ZoneFile string
	// Origin is the zone's domain, e.g. "etcd.example.internal".
	Origin string
	// Listen is the UDP and TCP address, e.g. "10.123.0.2:53"; port 0 picks
	// a free port, reported by Addr.
	Listen string
	// TSIGKeys may sign RFC 2136 updates. Without keys no update is accepted.
	TSIGKeys []spec.TSIGKey
	// Logger receives the server's logs; nil logs nothing.
	Logger *slog.Logger
}

// DefaultServerConfig returns the defaults NewServer applies to empty fields.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{Listen: ":53"}
}

// Server is an authoritative DNS server for one zone, answering over UDP and
// TCP and accepting TSIG-signed RFC 2136 updates, which it persists.
type Server struct {
	cfg  ServerConfig
	log  *slog.Logger
	keys keyring

	// zone is the zone served. A Zone is immutable, with its answers
	// prepared and packed; an update swaps in a new one, so queries take no
	// lock and see the old zone or the new one whole.
	zone atomic.Pointer[Zone]
	// updateMu serialises updates (read, apply, persist, swap) without making
	// queries wait on the disk.
	updateMu sync.Mutex

	// life starts the UDP and TCP dns.Servers once and stops them once.
	life lifecycle.Lifecycle
}

// ErrServerClosed is returned by Start after Shutdown and by a second Shutdown.
var ErrServerClosed = errors.New("dns server closed")

// Server limits.
const (
	// advertisedUDPSize is the EDNS0 payload size the server offers and the
	// most it sends over UDP (DNS Flag Day 2020: avoids IP fragmentation).
	advertisedUDPSize = 1232
	// receiveUDPSize is the read buffer for UDP messages: updates may be large.
	receiveUDPSize = dns.MaxMsgSize
	tcpReadTimeout = 5 * time.Second
)

// NewServer loads cfg.ZoneFile for cfg.Origin and checks the TSIG keys. It
// does not listen yet: see Start.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultServerConfig().Listen
	}
	if cfg.Origin == "" {
		return nil, errors.New("dns server: Origin is empty: set it to the zone's domain, e.g. etcd.example.internal")
	}
	if cfg.ZoneFile == "" {
		return nil, errors.New("dns server: ZoneFile is empty: point it at the zone file (etcdboot generate writes out/dns/<domain>.zone)")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	keys, err := newKeyring(cfg.TSIGKeys)
	if err != nil {
		return nil, fmt.Errorf("dns server: %w", err)
	}
	f, err := os.Open(cfg.ZoneFile)
	if err != nil {
		return nil, fmt.Errorf("dns server: open zone file: %w", err)
	}
	defer f.Close()
	z, err := ParseZone(f, cfg.Origin, cfg.ZoneFile)
	if err != nil {
		return nil, fmt.Errorf("dns server: load zone: %w", err)
	}
	s := &Server{
		cfg:  cfg,
		log:  log.With("zone", z.Origin()),
		keys: keys,
		life: lifecycle.Lifecycle{Name: "dns server", Closed: ErrServerClosed, Ended: []error{net.ErrClosed}},
	}
	s.zone.Store(z)
	return s, nil
}

// Zone returns the zone as currently served.
func (s *Server) Zone() *Zone { return s.zone.Load() }

// Addr returns the address the server listens on for both UDP and TCP, e.g.
// "127.0.0.1:40053"; empty before Start.
func (s *Server) Addr() string { return s.life.Addr() }

// Start listens on cfg.Listen over UDP and TCP (the same port, also when the
// port is 0) and serves in the background until Shutdown.
func (s *Server) Start() error {
	if err := s.life.Start(s.listen); err != nil {
		return err
	}
	s.log.Info("dns server listening", "addr", s.Addr(), "serial", s.Zone().Serial(), "keys", len(s.keys))
	return nil
}

// listen binds the UDP and TCP sockets and returns a dns.Server on each.
func (s *Server) listen() (lifecycle.Serving, error) {
	pc, ln, err := listenUDPAndTCP(s.cfg.Listen)
	if err != nil {
		return lifecycle.Serving{}, fmt.Errorf("dns server: %w", err)
	}
	sock, err := newUDPSocket(pc)
	if err != nil {
		pc.Close()
		ln.Close()
		return lifecycle.Serving{}, fmt.Errorf("dns server: udp socket options: %w", err)
	}
	handler := dns.HandlerFunc(s.serveDNS)
	udp := &dns.Server{
		PacketConn: sock,
		DecorateReader: func(next dns.Reader) dns.Reader {
			return newQueryReader(s, sock, next)
		},
		Handler:       handler,
		UDPSize:       receiveUDPSize,
		TsigProvider:  s.keys, // always set: without a provider signatures go unchecked
		MsgAcceptFunc: acceptMsg,
	}
	tcp := &dns.Server{
		Listener:      ln,
		Handler:       handler,
		TsigProvider:  s.keys,
		MsgAcceptFunc: acceptMsg,
		ReadTimeout:   tcpReadTimeout,
	}
	serve := func(srv *dns.Server) lifecycle.Loop {
		return func(started func()) error {
			srv.NotifyStartedFunc = started
			return srv.ActivateAndServe()
		}
	}
	return lifecycle.Serving{
		Addr:  pc.LocalAddr().String(),
		Loops: []lifecycle.Loop{serve(udp), serve(tcp)},
		Stop: func(ctx context.Context) error {
			var errs []error
			for _, srv := range []*dns.Server{udp, tcp} {
				if err := srv.ShutdownContext(ctx); err != nil {
					errs = append(errs, err)
				}
			}
			// A server that never started leaves its socket open.
			pc.Close()
			ln.Close()
			return errors.Join(errs...)
		},
	}, nil
}

// listenUDPAndTCP binds UDP and TCP on the same address. With port 0 the UDP
// port is chosen first and TCP binds the same number; if that is taken,
// another pair is tried.
func listenUDPAndTCP(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen address %q: %w (want host:port, e.g. 10.123.0.2:53)", addr, err)
	}
	var lastErr error
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		bound := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(bound)))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("listen tcp %s: %w", addr, lastErr)
}

// Shutdown stops listening and waits, up to ctx, for queries and updates in
// flight to finish. An update being persisted completes first.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.life.Stop(ctx); err != nil {
		return err
	}
	if addr := s.Addr(); addr != "" {
		s.log.Info("dns server stopped", "addr", addr)
	}
	return nil
}

// acceptMsg is the first filter on every message, before it is unpacked:
// queries with one question (plus OPT and TSIG), and RFC 2136 updates.
func acceptMsg(dh dns.Header) dns.MsgAcceptAction {
	const qr = 1 << 15
	if dh.Bits&qr != 0 {
		return dns.MsgIgnore // a response: never answer it
	}
	switch opcode := int(dh.Bits>>11) & 0xF; opcode {
	case dns.OpcodeQuery:
		if dh.Qdcount != 1 || dh.Ancount > 0 || dh.Nscount > 0 || dh.Arcount > 2 {
			return dns.MsgReject
		}
	case dns.OpcodeUpdate:
		if dh.Qdcount != 1 {
			return dns.MsgReject
		}
	default:
		return dns.MsgRejectNotImplemented
	}
	return dns.MsgAccept
}

// serveDNS answers one message.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, overTCP := w.RemoteAddr().(*net.TCPAddr)
	resp := s.respond(req, w.TsigStatus(), overTCP)
	var err error
	if t := resp.IsTsig(); t != nil && (t.Error == dns.RcodeBadKey || t.Error == dns.RcodeBadSig) {
		// Sent unsigned (RFC 8945 section 5.3.2) but with the server's time:
		// WriteMsg would zero it, and BIND's tools then blame the clocks.
		var buf []byte
		if buf, err = resp.Pack(); err == nil {
			_, err = w.Write(buf)
		}
	} else {
		err = w.WriteMsg(resp)
	}
	if err != nil {
		s.log.Debug("write response", "client", w.RemoteAddr().String(), "id", req.Id, "err", err)
	}
}

// respond builds the response to req; tsigStatus is the server's verdict on
// req's TSIG signature, if it has one.
func (s *Server) respond(req *dns.Msg, tsigStatus error, overTCP bool) *dns.Msg {
	sig := req.IsTsig()
	if sig != nil && tsigStatus != nil {
		s.log.Warn("bad TSIG signature", "key", sig.Hdr.Name, "opcode", dns.OpcodeToString[req.Opcode], "err", tsigStatus)
		resp := new(dns.Msg).SetRcode(req, dns.RcodeNotAuth)
		resp.SetTsig(sig.Hdr.Name, sig.Algorithm, tsigFudge, time.Now().Unix())
		resp.Extra[len(resp.Extra)-1].(*dns.TSIG).Error = tsigErrorCode(tsigStatus)
		return resp
	}
	var resp *dns.Msg
	switch req.Opcode {
	case dns.OpcodeUpdate:
		resp = s.update(req)
	default:
		resp = s.query(req, overTCP, sig)
	}
	if sig != nil {
		resp.SetTsig(sig.Hdr.Name, sig.Algorithm, tsigFudge, time.Now().Unix())
	}
	return resp
}
