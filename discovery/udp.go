package discovery

// The UDP read loop. dns.Server reads each message into a pooled buffer,
// unpacks it and answers it in a goroutine of its own; for the common query
// the zone has the response packed already (packed.go), so the loop answers
// it in place and hands dns.Server only the rest.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// udpSocket is the server's UDP socket as its dns.Server sees it. Not being
// a *net.UDPConn, dns.Server reads it through queryReader.ReadPacketConn
// and answers through WriteTo.
type udpSocket struct {
	*net.UDPConn
}

// newUDPSocket asks the kernel for each query's destination address, so
// that replies leave from the address the query came to on a host with
// several (as dns.Server does for a *net.UDPConn).
func newUDPSocket(pc net.PacketConn) (udpSocket, error) {
	conn, ok := pc.(*net.UDPConn)
	if !ok {
		return udpSocket{}, fmt.Errorf("%T is not a UDP socket", pc)
	}
	err6 := ipv6.NewPacketConn(conn).SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true)
	err4 := ipv4.NewPacketConn(conn).SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true)
	if err6 != nil && err4 != nil {
		return udpSocket{}, err4
	}
	return udpSocket{conn}, nil
}

// WriteTo sends a response of the full path to the client it came from.
func (c udpSocket) WriteTo(b []byte, addr net.Addr) (int, error) {
	if a, ok := addr.(*udpClient); ok {
		n, _, err := c.WriteMsgUDPAddrPort(b, a.oob, a.addr)
		return n, err
	}
	return c.UDPConn.WriteTo(b, addr)
}

// udpClient is the sender of a query, with the control message that makes
// the reply leave from the address the query came to.
type udpClient struct {
	addr netip.AddrPort
	oob  []byte
}

// Network returns "udp".
func (c *udpClient) Network() string { return "udp" }

// String returns the client's address as a net.UDPAddr prints it.
func (c *udpClient) String() string {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.addr.Addr().Unmap(), c.addr.Port())).String()
}

// queryReader reads the UDP socket for dns.Server (one goroutine), answers
// the queries whose response the zone has packed and returns the others.
// It sets no read deadline: Shutdown's deadline in the past then ends the
// read for good.
type queryReader struct {
	dns.Reader // TCP: the server's own
	s          *Server
	sock       udpSocket
	buf        []byte // the message read
	oob        []byte // its control message
	out        []byte // a packed response
	// lastOOB and lastSrc cache the reply's control message for the last
	// query's: the same while queries come to the same address. Never
	// modified, only replaced, so a udpClient may keep lastSrc.
	lastOOB, lastSrc []byte
}

func newQueryReader(s *Server, sock udpSocket, next dns.Reader) *queryReader {
	return &queryReader{
		Reader: next,
		s:      s,
		sock:   sock,
		buf:    make([]byte, receiveUDPSize),
		oob:    make([]byte, max(len(ipv4.NewControlMessage(ipv4.FlagDst|ipv4.FlagInterface)), len(ipv6.NewControlMessage(ipv6.FlagDst|ipv6.FlagInterface)))),
		out:    make([]byte, 0, advertisedUDPSize),
	}
}

// ReadPacketConn returns the next message from the server's socket that
// needs the full path, answering packed ones meanwhile.
func (r *queryReader) ReadPacketConn(net.PacketConn, time.Duration) ([]byte, net.Addr, error) {
	for {
		n, oobn, _, from, err := r.sock.ReadMsgUDPAddrPort(r.buf, r.oob)
		if err != nil {
			return nil, nil, err
		}
		msg, src := r.buf[:n], r.replySource(r.oob[:oobn])
		resp, p := r.s.Zone().answerPacked(msg, r.out)
		if resp == nil {
			return bytes.Clone(msg), &udpClient{addr: from, oob: src}, nil
		}
		_, _, err = r.sock.WriteMsgUDPAddrPort(resp, src, from)
		if r.s.log.Enabled(context.Background(), slog.LevelDebug) {
			// Checked first, as in query: the arguments cost allocations.
			r.logPacked(msg, p, from, err)
		}
	}
}

// logPacked logs a packed answer as query logs a full one.
func (r *queryReader) logPacked(msg []byte, p *packedAnswer, from netip.AddrPort, err error) {
	var req dns.Msg
	if req.Unpack(msg) != nil || len(req.Question) != 1 {
		return
	}
	q := req.Question[0]
	r.s.log.Debug("query", "name", q.Name, "type", dns.Type(q.Qtype), "rcode", dns.RcodeToString[dns.RcodeSuccess], "answers", p.answers, "tcp", false)
	if err != nil {
		r.s.log.Debug("write response", "client", (&udpClient{addr: from}).String(), "id", req.Id, "err", err)
	}
}

// replySource returns the control message that sends a reply from the
// destination address in oob, the query's control message; nil when oob
// names none. It is miekg/dns's correctSource, cached.
func (r *queryReader) replySource(oob []byte) []byte {
	if bytes.Equal(oob, r.lastOOB) && r.lastOOB != nil {
		return r.lastSrc
	}
	var src []byte
	var dst net.IP
	if cm6 := new(ipv6.ControlMessage); cm6.Parse(oob) == nil && cm6.Dst != nil {
		dst = cm6.Dst
	} else if cm4 := new(ipv4.ControlMessage); cm4.Parse(oob) == nil && cm4.Dst != nil {
		dst = cm4.Dst
	}
	switch {
	case dst == nil:
	case dst.To4() == nil:
		src = (&ipv6.ControlMessage{Src: dst}).Marshal()
	default:
		src = (&ipv4.ControlMessage{Src: dst}).Marshal()
	}
	r.lastOOB, r.lastSrc = bytes.Clone(oob), src
	return src
}
