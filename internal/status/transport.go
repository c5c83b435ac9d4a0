package status

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	grpcstatus "google.golang.org/grpc/status"
)

// clientTLS loads the CA and the client certificate named in o.
func (o Options) clientTLS() (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate; give the cluster's ca.crt", o.CAFile)
		}
		conf.RootCAs = pool
	}
	switch {
	case o.CertFile != "" && o.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s with key %s: %w", o.CertFile, o.KeyFile, err)
		}
		conf.Certificates = []tls.Certificate{cert}
	case o.CertFile != "" || o.KeyFile != "":
		return nil, fmt.Errorf("client certificate %q and key %q: give both or neither", o.CertFile, o.KeyFile)
	}
	return conf, nil
}

// connDiagnosis finds out why an endpoint did not answer. etcd's client
// waits for a connection until the deadline and then reports only the bare
// context error, so it remembers the last connection error gRPC saw and, once
// the connection fails, makes one TLS connection of its own: under TLS 1.3 a
// member that refuses the client certificate says so in an alert after the
// handshake, which gRPC often loses to a "broken pipe" on its next write.
type connDiagnosis struct {
	endpoint string
	tls      *tls.Config
	timeout  time.Duration

	mu        sync.Mutex
	transport error // last gRPC connection error

	cancel context.CancelFunc
	done   chan struct{}
	found  string             // set before done is closed
	state  connectivity.State // set before done is closed
}

func newConnDiagnosis(endpoint string, conf *tls.Config, timeout time.Duration) *connDiagnosis {
	return &connDiagnosis{endpoint: endpoint, tls: conf, timeout: timeout}
}

// dialOptions chains an interceptor inside etcd's own retrying one, so it
// sees every attempt's raw gRPC error.
func (d *connDiagnosis) dialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(d.intercept)}
}

func (d *connDiagnosis) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil && transportMessage(err) != "" {
		d.mu.Lock()
		d.transport = err
		d.mu.Unlock()
	}
	return err
}

// watch diagnoses the endpoint as soon as conn fails, while the RPCs that
// wait for it still have time left. It ends when ctx does or stop is called.
func (d *connDiagnosis) watch(ctx context.Context, conn *grpc.ClientConn) {
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		state := conn.GetState()
		for state != connectivity.TransientFailure {
			if !conn.WaitForStateChange(ctx, state) {
				d.state = conn.GetState()
				return
			}
			state = conn.GetState()
		}
		d.found = diagnose(ctx, d.endpoint, d.tls)
		d.state = conn.GetState()
	}()
}

// stop ends the watch and waits for it.
func (d *connDiagnosis) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
	}
}

// explain adds to a context error what kept the endpoint from answering.
// Call it only once ctx is done, so the watch has ended or is ending.
func (d *connDiagnosis) explain(err error) error {
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	d.stop()
	d.mu.Lock()
	last := d.transport
	d.mu.Unlock()
	cause := d.found
	switch {
	case cause != "":
	case last != nil:
		cause = transportMessage(last)
	case d.state == connectivity.Connecting || d.state == connectivity.Idle:
		cause = "still connecting; is the address reachable, and does a firewall let this host reach the client port?"
	case d.state == connectivity.Ready:
		cause = "connected, but the member did not answer in time"
	default:
		cause = "no connection error seen"
	}
	if hint := transportHint(cause); hint != "" {
		cause += "; " + hint
	}
	return &noAnswerError{timeout: d.timeout, cause: cause, err: err}
}

// diagnose connects to endpoint as the gRPC client would and returns what
// goes wrong, or "" when nothing does or ctx ends first.
func diagnose(ctx context.Context, endpoint string, conf *tls.Config) string {
	secure, addr, ok := endpointAddress(endpoint)
	if !ok {
		return ""
	}
	var conn net.Conn
	var err error
	if secure {
		conn, err = (&tls.Dialer{Config: conf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ""
		}
		return err.Error()
	}
	defer conn.Close()
	if !secure {
		return ""
	}
	// etcd's client port speaks only after the client does; what arrives
	// first is the server's verdict on our certificate, if it has one.
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	_, err = conn.Read(make([]byte, 1))
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return err.Error()
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return "the member closed the connection right after the TLS handshake"
	}
	return ""
}

// endpointAddress splits an endpoint as etcd's client reads it: https://
// and bare host:port are TLS, http:// is not; unix sockets are not diagnosed.
func endpointAddress(endpoint string) (secure bool, addr string, ok bool) {
	if !strings.Contains(endpoint, "://") {
		return true, endpoint, true
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return false, "", false
	}
	switch u.Scheme {
	case "https":
		return true, u.Host, true
	case "http":
		return false, u.Host, true
	}
	return false, "", false
}

// noAnswerError is an RPC that ran out of time, with what kept it from
// being answered.
type noAnswerError struct {
	timeout time.Duration
	cause   string
	err     error
}

func (e *noAnswerError) Error() string {
	if errors.Is(e.err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s: %s", e.timeout, e.cause)
	}
	return fmt.Sprintf("%v: %s", e.err, e.cause)
}

func (e *noAnswerError) Unwrap() error { return e.err }

// transportMessage digs the connection error out of a gRPC status such as
// `latest balancer error: last connection error: connection error: desc =
// "transport: Error while dialing: dial tcp 127.0.0.1:2379: connect:
// connection refused"`; it returns "" for errors that are not about the
// connection.
func transportMessage(err error) string {
	st, ok := grpcstatus.FromError(err)
	if !ok {
		return ""
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
	default:
		return ""
	}
	msg := st.Message()
	if !strings.Contains(msg, "connection error") && !strings.Contains(msg, "balancer error") {
		return ""
	}
	for changed := true; changed; {
		changed = false
		for _, prefix := range []string{
			"latest balancer error: ",
			"last connection error: ",
			"connection error: desc = ",
			"transport: Error while dialing: ",
			"transport: authentication handshake failed: ",
			"transport: ",
		} {
			if rest, ok := strings.CutPrefix(msg, prefix); ok {
				msg, changed = rest, true
			}
		}
		if unq, err := strconv.Unquote(msg); err == nil {
			msg, changed = unq, true
		}
	}
	return msg
}

// transportHint says what to do about the connection errors people meet.
func transportHint(msg string) string {
	switch {
	case strings.Contains(msg, "connection refused"):
		return "is etcd running and listening on this address?"
	case strings.Contains(msg, "certificate signed by unknown authority"):
		return "the member's server certificate is not signed by the given CA; use the cluster's ca.crt"
	case strings.Contains(msg, "certificate is valid for"):
		return "the member's server certificate does not name this address; use an address from its SANs or regenerate the certificate"
	case strings.Contains(msg, "certificate required"):
		return "the member requires a client certificate; give one signed by the cluster's CA (the healthcheck-client certificate is enough)"
	case strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"):
		return "the member refused the client certificate; give one signed by the cluster's CA"
	case strings.Contains(msg, "closed the connection right after the TLS handshake"):
		return "it probably refused the client certificate; give one signed by the cluster's CA"
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "the member does not speak TLS here; use an http:// endpoint"
	}
	return ""
}
