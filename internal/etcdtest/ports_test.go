package etcdtest

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortsAreClaimedUntilCleanup(t *testing.T) {
	var ports []int
	t.Run("holder", func(t *testing.T) {
		ports = FreePorts(t, 4)
		seen := map[int]bool{}
		for _, p := range ports {
			if seen[p] {
				t.Fatalf("port %d handed out twice in %v", p, ports)
			}
			seen[p] = true
			// a second claim (another open file description, as another
			// test process would have) is refused while this test runs
			t.Run("other", func(t *testing.T) {
				if claimPort(t, p) {
					t.Fatalf("port %d claimed twice", p)
				}
			})
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				t.Fatalf("port %d not free after FreePorts: %v", p, err)
			}
			l.Close()
		}
	})
	// the holder's cleanup released its claims
	for _, p := range ports {
		if !claimPort(t, p) {
			t.Fatalf("port %d still claimed after its test ended", p)
		}
	}
}
