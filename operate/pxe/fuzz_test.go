package pxe

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseLabels: the identifiers of a PXE request (query parameters) never
// panic the parser; what it accepts is normalized, so parsing it again gives
// the same labels; what it refuses wraps ErrBadSelector.
func FuzzParseLabels(f *testing.F) {
	f.Add("52:54:00:aa:bb:01", "8C1A2B3D-4E5F-6071-8293-A4B5C6D7E8F9", "Etcd1.Example.")
	f.Add("52-54-00-AA-BB-01", "", "")
	f.Add("", "not-a-uuid", "bad_host!")
	f.Add("5254.00aa.bb01", "", strings.Repeat("a", 300))
	f.Fuzz(func(t *testing.T, mac, uuid, hostname string) {
		l, err := ParseLabels(mac, uuid, hostname)
		if err != nil {
			if !errors.Is(err, ErrBadSelector) {
				t.Fatalf("error %q does not wrap ErrBadSelector", err)
			}
			return
		}
		again, err := ParseLabels(l.MAC, l.UUID, l.Hostname)
		if err != nil || again != l {
			t.Fatalf("normalized labels %+v do not parse to themselves: %+v, %v", l, again, err)
		}
	})
}

// FuzzParsePathLabel: the id in a cloud-init seed URL's path never panics
// the parser, and an accepted id names exactly one identifier.
func FuzzParsePathLabel(f *testing.F) {
	f.Add("52:54:00:aa:bb:01")
	f.Add("8c1a2b3d-4e5f-6071-8293-a4b5c6d7e8f9")
	f.Add("etcd1")
	f.Add("..")
	f.Add("aa:bb")
	f.Fuzz(func(t *testing.T, id string) {
		l, err := ParsePathLabel(id)
		if err != nil {
			if !errors.Is(err, ErrBadSelector) {
				t.Fatalf("error %q does not wrap ErrBadSelector", err)
			}
			return
		}
		if n := len(l.Selectors()); n != 1 {
			t.Fatalf("path id %q gave %d identifiers: %+v", id, n, l)
		}
	})
}

// FuzzParseGroups: a groups file never panics the parser; an error names
// the file.
func FuzzParseGroups(f *testing.F) {
	f.Add([]byte("- selector: {mac: 52:54:00:aa:bb:01}\n  node: etcd1\n"))
	f.Add([]byte("- selector: {hostname: etcd2, uuid: 8c1a2b3d-4e5f-6071-8293-a4b5c6d7e8f9}\n  node: etcd2\n"))
	f.Add([]byte("# only a comment\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseGroups("groups.yaml", data)
		if err != nil && !strings.HasPrefix(err.Error(), "groups.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
