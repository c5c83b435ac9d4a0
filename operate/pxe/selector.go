package pxe

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// SelectorKey names the identifier a selector matches on.
type SelectorKey string

// The identifiers a booting machine can be told apart by, in the order a
// request's labels are tried: the MAC of the NIC that booted names the
// machine most precisely, the SMBIOS UUID names the board, the DHCP hostname
// is whatever the network handed out.
const (
	KeyMAC      SelectorKey = "mac"
	KeyUUID     SelectorKey = "uuid"
	KeyHostname SelectorKey = "hostname"
)

// ipxeSetting is the iPXE setting that expands to the identifier on the
// machine itself, the form iPXE sends it in.
func (k SelectorKey) ipxeSetting() string {
	switch k {
	case KeyMAC:
		return "${mac:hexhyp}"
	case KeyUUID:
		return "${uuid}"
	case KeyHostname:
		return "${hostname}"
	}
	return ""
}

// Selector picks one machine by one normalized identifier: a MAC as
// aa:bb:cc:dd:ee:ff, a UUID in lower case, a hostname in lower case without
// a trailing dot.
type Selector struct {
	Key   SelectorKey
	Value string
}

// String returns key=value, e.g. "mac=52:54:00:aa:bb:01".
func (s Selector) String() string { return string(s.Key) + "=" + s.Value }

// ErrBadSelector is wrapped by every error about an identifier's syntax.
var ErrBadSelector = errors.New("bad selector")

// ParseSelector normalizes value as an identifier of kind key.
func ParseSelector(key SelectorKey, value string) (Selector, error) {
	var (
		v   string
		err error
	)
	switch key {
	case KeyMAC:
		v, err = ParseMAC(value)
	case KeyUUID:
		v, err = ParseUUID(value)
	case KeyHostname:
		v, err = ParseHostname(value)
	default:
		return Selector{}, fmt.Errorf("%w: %q is not mac, uuid or hostname", ErrBadSelector, key)
	}
	if err != nil {
		return Selector{}, err
	}
	return Selector{Key: key, Value: v}, nil
}

// ParseMAC accepts a 6-byte MAC written aa:bb:cc:dd:ee:ff or, as iPXE's
// ${mac:hexhyp} writes it, aa-bb-cc-dd-ee-ff, in any case, and returns it as
// aa:bb:cc:dd:ee:ff.
func ParseMAC(s string) (string, error) {
	bad := fmt.Errorf("%w: mac %q: want aa:bb:cc:dd:ee:ff or aa-bb-cc-dd-ee-ff", ErrBadSelector, clip(s))
	if len(s) != 17 {
		return "", bad
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return "", bad
	}
	var b strings.Builder
	b.Grow(17)
	for i := 0; i < 17; i++ {
		c := s[i]
		if i%3 == 2 {
			if c != sep {
				return "", bad
			}
			b.WriteByte(':')
			continue
		}
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
		case c >= 'A' && c <= 'F':
			c += 'a' - 'A'
		default:
			return "", bad
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// normalizeMemberMAC reads a member's mac: field, which the spec lets be any
// form net.ParseMAC accepts, and insists on a 6-byte (Ethernet) address.
func normalizeMemberMAC(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("%w: mac %q is not a 6-byte Ethernet address", ErrBadSelector, clip(s))
	}
	return hw.String(), nil
}

// ParseUUID accepts an SMBIOS UUID as iPXE's ${uuid} writes it,
// 8-4-4-4-12 hex digits in any case, and returns it in lower case.
func ParseUUID(s string) (string, error) {
	bad := fmt.Errorf("%w: uuid %q: want 8-4-4-4-12 hex digits, e.g. 4c4c4544-0042-3510-8051-b4c04f4d3232", ErrBadSelector, clip(s))
	if len(s) != 36 {
		return "", bad
	}
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", bad
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return "", bad
			}
		}
	}
	return string(b), nil
}

// ParseHostname accepts a DNS host name (letters, digits, hyphens, dots) and
// returns it in lower case without a trailing dot.
func ParseHostname(s string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: hostname %q: %s", ErrBadSelector, clip(s), why)
	}
	h := strings.ToLower(strings.TrimSuffix(s, "."))
	if h == "" || len(h) > 253 {
		return "", bad("want 1 to 253 characters")
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return "", bad("each label wants 1 to 63 characters")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "", bad("a label cannot begin or end with a hyphen")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", bad("only letters, digits, hyphens and dots")
			}
		}
	}
	return h, nil
}

// clip shortens what a client sent before it goes into an error message.
func clip(s string) string {
	const limit = 64
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}

// Labels are the identifiers one request carries, normalized; an empty field
// was not sent (iPXE expands an unset setting to nothing).
type Labels struct {
	MAC, UUID, Hostname string
}

// ParseLabels normalizes the identifiers of a request; empty ones are
// absent. Every malformed one is reported.
func ParseLabels(mac, uuid, hostname string) (Labels, error) {
	var (
		l    Labels
		errs []error
		err  error
	)
	if mac != "" {
		if l.MAC, err = ParseMAC(mac); err != nil {
			errs = append(errs, err)
		}
	}
	if uuid != "" {
		if l.UUID, err = ParseUUID(uuid); err != nil {
			errs = append(errs, err)
		}
	}
	if hostname != "" {
		if l.Hostname, err = ParseHostname(hostname); err != nil {
			errs = append(errs, err)
		}
	}
	return l, errors.Join(errs...)
}

// ParsePathLabel reads the one identifier a cloud-init seed URL carries in
// its path (/cloud-init/<id>/user-data): a MAC when it has the shape of one
// (17 characters, ':' or '-' third), a UUID when it has that shape, else a
// hostname.
func ParsePathLabel(id string) (Labels, error) {
	var (
		l   Labels
		err error
	)
	switch {
	case len(id) == 17 && (id[2] == ':' || id[2] == '-'):
		l.MAC, err = ParseMAC(id)
	case len(id) == 36 && id[8] == '-':
		l.UUID, err = ParseUUID(id)
	default:
		l.Hostname, err = ParseHostname(id)
	}
	return l, err
}

// Empty reports whether the request named no machine at all.
func (l Labels) Empty() bool { return l.MAC == "" && l.UUID == "" && l.Hostname == "" }

// Selectors returns the request's identifiers as selectors, in the order
// they are tried: MAC, UUID, hostname.
func (l Labels) Selectors() []Selector {
	var out []Selector
	if l.MAC != "" {
		out = append(out, Selector{KeyMAC, l.MAC})
	}
	if l.UUID != "" {
		out = append(out, Selector{KeyUUID, l.UUID})
	}
	if l.Hostname != "" {
		out = append(out, Selector{KeyHostname, l.Hostname})
	}
	return out
}
