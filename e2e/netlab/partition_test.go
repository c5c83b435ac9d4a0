package netlab

import (
	"net/netip"
	"testing"
)

func TestPartitionRuleset(t *testing.T) {
	tests := []struct {
		name    string
		blocked []string
		want    string
	}{
		{name: "nothing blocked deletes the table", want: "table inet netlab\ndelete table inet netlab\n"},
		{name: "two peers", blocked: []string{"10.123.0.3", "10.123.0.12"}, want: `table inet netlab
delete table inet netlab
table inet netlab {
	set blocked {
		type ipv4_addr
		elements = { 10.123.0.3, 10.123.0.12 }
	}
	chain input {
		type filter hook input priority -10; policy accept;
		ip saddr @blocked drop
	}
	chain output {
		type filter hook output priority -10; policy accept;
		ip daddr @blocked drop
	}
}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addrs []netip.Addr
			for _, s := range tt.blocked {
				addrs = append(addrs, netip.MustParseAddr(s))
			}
			if got := partitionRuleset(addrs); got != tt.want {
				t.Errorf("partitionRuleset(%v) =\n%s\nwant\n%s", tt.blocked, got, tt.want)
			}
		})
	}
}
