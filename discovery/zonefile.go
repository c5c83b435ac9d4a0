package discovery

// The zone as text: writing it in canonical RFC 1035 form, and parsing a
// zone file with errors that name the file, line and column.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/miekg/dns"
)

// WriteTo writes the zone as an RFC 1035 zone file: $ORIGIN, $TTL, then every
// record with an explicit TTL, owners relative to the origin.
func (z *Zone) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriter(cw)
	fmt.Fprintf(bw, "; zone %s, written by etcdboot\n$ORIGIN %s\n$TTL %d\n", z.origin, z.origin, z.soa.Hdr.Ttl)
	tw := tabwriter.NewWriter(bw, 0, 8, 1, ' ', 0)
	for _, name := range z.names() {
		owner := z.relative(name)
		for _, rr := range z.nodes[name] {
			h := rr.Header()
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", owner, h.Ttl, dns.Class(h.Class), dns.Type(h.Rrtype), rdata(rr))
		}
	}
	if err := tw.Flush(); err != nil {
		return cw.n, err
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

// relative returns name as written in the zone file: "@" for the apex, else
// relative to the origin.
func (z *Zone) relative(name string) string {
	owner := strings.TrimSuffix(name, "."+z.origin)
	if name == z.origin {
		owner = "@"
	} else if z.origin == "." {
		owner = strings.TrimSuffix(name, ".")
	}
	return owner
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ZoneSyntaxError is a zone file that does not parse; it names the file,
// line and column (Line is 0 where the parser does not say).
type ZoneSyntaxError struct {
	File         string
	Line, Column int
	// Problem is the parser's complaint; Token the text it stopped at.
	Problem, Token string
	err            error
}

// Error returns "file:line:column: problem (at "token")".
func (e *ZoneSyntaxError) Error() string {
	if e.Line == 0 {
		// miekg/dns does not place some errors, e.g. in $GENERATE.
		return fmt.Sprintf("%s: %s", e.File, e.Problem)
	}
	return fmt.Sprintf("%s:%d:%d: %s (at %q)", e.File, e.Line, e.Column, e.Problem, e.Token)
}

// Unwrap returns miekg/dns's *dns.ParseError.
func (e *ZoneSyntaxError) Unwrap() error { return e.err }

// parseErrorText matches miekg/dns's ParseError text after the file name.
var parseErrorText = regexp.MustCompile(`(?s)^dns: (.*): ("(?:[^"\\]|\\.)*") at line: (\d+):(\d+)$`)

// ParseZone reads an RFC 1035 zone file for origin; file names it in errors.
// A syntax error is a *ZoneSyntaxError (file:line:column); a zone that parses
// but is not servable reports every problem (see NewZone). $INCLUDE is
// refused: a zone is one file.
func ParseZone(r io.Reader, origin, file string) (*Zone, error) {
	if file == "" {
		file = "zone"
	}
	if _, ok := dns.IsDomainName(origin); !ok || origin == "" {
		return nil, fmt.Errorf("%s: zone origin %q is not a domain name", file, origin)
	}
	zp := dns.NewZoneParser(r, dns.Fqdn(origin), file)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if len(rrs) == maxZoneRecords {
			return nil, fmt.Errorf("%s: more than %d records: etcdboot serves small zones (etcd discovery, labs)", file, maxZoneRecords)
		}
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, syntaxError(file, err)
	}
	z, err := NewZone(origin, rrs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return z, nil
}

// syntaxError turns miekg/dns's parse error into a ZoneSyntaxError.
func syntaxError(file string, err error) error {
	var pe *dns.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", file, err)
	}
	m := parseErrorText.FindStringSubmatch(strings.TrimPrefix(pe.Error(), file+": "))
	if m == nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	token, uerr := strconv.Unquote(m[2])
	if uerr != nil {
		token = m[2]
	}
	problem := m[1]
	if problem == "not a TTL" {
		problem = "unknown record type, or a bad TTL or class"
	}
	line, _ := strconv.Atoi(m[3])
	col, _ := strconv.Atoi(m[4])
	return &ZoneSyntaxError{File: file, Line: line, Column: col, Problem: problem, Token: token, err: err}
}
