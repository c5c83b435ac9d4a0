package bootstrap

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestMissingAddrsNamesEachAbsentAddress(t *testing.T) {
	a := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, x := range s {
			out = append(out, netip.MustParseAddr(x))
		}
		return out
	}
	for _, tc := range []struct {
		name       string
		want, host []netip.Addr
		missing    string
	}{
		{"all there", a("10.0.0.1", "fd00::1"), a("10.0.0.1", "192.168.1.2", "fd00::1"), ""},
		{"none wanted", nil, a("10.0.0.1"), ""},
		{"one absent", a("10.0.0.1", "10.0.0.2"), a("10.0.0.1"), "[10.0.0.2]"},
		{"host without addresses", a("10.0.0.1"), nil, "[10.0.0.1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := missingAddrs(tc.want, tc.host)
			if tc.missing == "" {
				if err != nil {
					t.Fatalf("missingAddrs: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrAddressMissing) || !strings.Contains(err.Error(), tc.missing) {
				t.Fatalf("missingAddrs = %v, want ErrAddressMissing naming %s", err, tc.missing)
			}
		})
	}
}
