package netlab

import (
	"net/netip"
	"strings"
	"testing"
)

func TestOptionsDefaultsAndValidation(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		wantErr string // substring; "" means valid
		check   func(t *testing.T, o Options)
	}{
		{name: "defaults", in: Options{Prefix: "ebt"}, check: func(t *testing.T, o Options) {
			if o.Subnet.String() != "10.123.0.0/24" || o.HostAddr.String() != "10.123.0.1" || o.LockWait <= 0 {
				t.Errorf("defaults = %s %s %s", o.Subnet, o.HostAddr, o.LockWait)
			}
		}},
		{name: "host addr follows subnet", in: Options{Prefix: "ebdemo", Subnet: netip.MustParsePrefix("10.9.8.0/25")}, check: func(t *testing.T, o Options) {
			if o.HostAddr.String() != "10.9.8.1" {
				t.Errorf("HostAddr = %s, want 10.9.8.1", o.HostAddr)
			}
		}},
		{name: "empty prefix", in: Options{}, wantErr: `prefix ""`},
		{name: "prefix too long for ifnames", in: Options{Prefix: "abcdefghijk"}, wantErr: "3 to 10 characters"},
		{name: "prefix with dash", in: Options{Prefix: "eb-t"}, wantErr: "prefix"},
		{name: "prefix of CNI namespaces", in: Options{Prefix: "cni"}, wantErr: "prefix"},
		{name: "ipv6 subnet", in: Options{Prefix: "ebt", Subnet: netip.MustParsePrefix("fd00::/64")}, wantErr: "IPv4"},
		{name: "host bits", in: Options{Prefix: "ebt", Subnet: netip.MustParsePrefix("10.123.0.7/24")}, wantErr: "use 10.123.0.0/24"},
		{name: "host addr outside", in: Options{Prefix: "ebt", HostAddr: netip.MustParseAddr("10.124.0.1")}, wantErr: "not an IPv4 address in"},
		{name: "host addr broadcast", in: Options{Prefix: "ebt", HostAddr: netip.MustParseAddr("10.123.0.255")}, wantErr: "broadcast"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.in.withDefaults()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, o)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHostNamesFitInterfaceNames(t *testing.T) {
	tests := []struct {
		prefix, name string
		ok           bool
	}{
		{"ebt", "etcd1", true},
		{"ebdemo", "member1", true}, // ebdemo-member1: 14
		{"ebdemo", "member10", true},
		{"ebdemo", "member100", false}, // 16 > 15
		{"ebt", "hub", false},
		{"ebt", "root", false},
		{"ebt", "Etcd", false},
		{"ebt", "-a", false},
		{"ebt", "a-b", true},
	}
	for _, tt := range tests {
		err := checkHostName(tt.prefix, tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("checkHostName(%q, %q) = %v, want ok=%v", tt.prefix, tt.name, err, tt.ok)
		}
	}
}

func TestOwnedMatchesOnlyThePrefixAndDash(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"ebt-hub", true},
		{"ebt-a", true},
		{"ebt-", false},
		{"ebt", false},
		{"ebtx-a", false}, // another lab's prefix
		{"eb-a", false},
		{"xebt-a", false},
	}
	for _, tt := range tests {
		if got := owned("ebt", tt.name); got != tt.want {
			t.Errorf("owned(ebt, %q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLastAddr(t *testing.T) {
	for in, want := range map[string]string{"10.123.0.0/24": "10.123.0.255", "10.9.8.0/25": "10.9.8.127", "10.0.0.0/30": "10.0.0.3"} {
		if got := lastAddr(netip.MustParsePrefix(in)).String(); got != want {
			t.Errorf("lastAddr(%s) = %s, want %s", in, got, want)
		}
	}
}
