package tlstest

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Client is one openssl s_client: the protocol version it speaks, and the
// CA and client certificate it verifies and authenticates with.
type Client struct {
	// Version is tls.VersionTLS12 or tls.VersionTLS13: s_client offers only
	// that one (-tls1_2, -tls1_3).
	Version uint16
	// Ciphers restricts the TLS 1.2 suites offered, in OpenSSL's names
	// (-cipher), e.g. "ECDHE-RSA-AES128-SHA"; empty offers OpenSSL's default.
	Ciphers string
	// CAFile is the CA the server's certificate must chain to.
	CAFile string
	// CertFile and KeyFile are the client certificate, for servers that
	// require one.
	CertFile, KeyFile string
	// VerifyIP, when set, also requires the server's certificate to name
	// this IP address.
	VerifyIP string
}

// WeakTLS12Ciphers are TLS 1.2 suites with CBC and a SHA-1 MAC, in
// OpenSSL's names, for ECDSA and RSA certificates: a port that allows TLS
// 1.2 must still refuse a client that offers only these.
const WeakTLS12Ciphers = "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA"

// Result is what a completed handshake negotiated.
type Result struct {
	// Protocol is OpenSSL's name of the version, e.g. "TLSv1.3".
	Protocol string
	// Cipher is the negotiated suite as OpenSSL names it, e.g.
	// "TLS_AES_128_GCM_SHA256" or "ECDHE-RSA-AES128-GCM-SHA256".
	Cipher string
}

// ErrRefused is wrapped by Handshake's error when the handshake did not
// complete at the version asked for.
var ErrRefused = errors.New("TLS handshake refused")

// Handshake connects to addr (host:port) with openssl s_client, completes a
// handshake with full certificate verification and closes. It returns what
// was negotiated, or an error wrapping ErrRefused with openssl's output.
func Handshake(tb testing.TB, addr string, c Client) (Result, error) {
	tb.Helper()
	bin := OpenSSL(tb)
	args := []string{"s_client", "-connect", addr, "-brief", "-verify_return_error"}
	want := ""
	switch c.Version {
	case tls.VersionTLS12:
		args, want = append(args, "-tls1_2"), "TLSv1.2"
	case tls.VersionTLS13:
		args, want = append(args, "-tls1_3"), "TLSv1.3"
	default:
		tb.Fatalf("tlstest: version %#x: use tls.VersionTLS12 or tls.VersionTLS13", c.Version)
	}
	if c.Ciphers != "" {
		args = append(args, "-cipher", c.Ciphers)
	}
	if c.CAFile != "" {
		args = append(args, "-CAfile", c.CAFile)
	}
	if c.CertFile != "" {
		args = append(args, "-cert", c.CertFile, "-key", c.KeyFile)
	}
	if c.VerifyIP != "" {
		args = append(args, "-verify_ip", c.VerifyIP)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	// End of input: s_client closes the connection once the handshake is done.
	cmd.Stdin = strings.NewReader("")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	res := parseBrief(out.String())
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("openssl s_client -connect %s: no answer within 15s: %w", addr, ctx.Err())
	case err != nil:
		return res, fmt.Errorf("%w: %s at %s: openssl s_client: %v:\n%s", ErrRefused, want, addr, err, out.String())
	case res.Protocol != want:
		return res, fmt.Errorf("%w: asked for %s at %s, openssl reports %q:\n%s", ErrRefused, want, addr, res.Protocol, out.String())
	}
	return res, nil
}

// alertRe finds the alert the server sent in OpenSSL's error line, e.g.
// "...:tlsv1 alert protocol version:..." or "...:sslv3 alert handshake failure:...".
var alertRe = regexp.MustCompile(`alert ([a-z0-9 ]+):`)

// Alert is the TLS alert the server refused Handshake's client with, as
// OpenSSL names it ("protocol version" for a version it does not speak,
// "handshake failure" for no common cipher suite), or "" when err holds none.
func Alert(err error) string {
	if err == nil || !errors.Is(err, ErrRefused) {
		return ""
	}
	m := alertRe.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	return m[1]
}

// parseBrief reads s_client -brief's "Protocol version:" and "Ciphersuite:" lines.
func parseBrief(out string) Result {
	var r Result
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Protocol version:"); ok {
			r.Protocol = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Ciphersuite:"); ok {
			r.Cipher = strings.TrimSpace(v)
		}
	}
	return r
}

// OpenSSL is the openssl binary on PATH; its absence skips the test, or
// fails it when ETCDBOOT_E2E_REQUIRED=1.
func OpenSSL(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("ETCDBOOT_E2E_REQUIRED") == "1" {
			tb.Fatalf("openssl missing: install it (apt-get install openssl): %v", err)
		}
		tb.Skipf("openssl missing: %v", err)
	}
	return p
}
