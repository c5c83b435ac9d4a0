package bootstrap

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
)

func TestPeerPortsAreTheAnsweringOthers(t *testing.T) {
	members := []*etcdserverpb.Member{
		{ID: 1, Name: "a", PeerURLs: []string{"https://10.0.0.1:2380"}},
		{ID: 2, Name: "b", PeerURLs: []string{"https://10.0.0.2:2380"}},
		{ID: 3, Name: "dead", PeerURLs: []string{"https://10.0.0.3:2380"}},
		{ID: 4, Name: "me", PeerURLs: []string{"https://10.0.0.4:2380"}},
		{ID: 5, Name: "unstarted", PeerURLs: nil},
		{ID: 6, Name: "learner", PeerURLs: []string{"https://[fd00::6]:2380"}, IsLearner: true},
	}
	answering := map[uint64]bool{1: true, 2: true, 4: true, 5: true, 6: true}
	got := peerPorts(members, answering, func(m *etcdserverpb.Member) bool { return m.Name == "me" })
	want := []string{"10.0.0.1:2380", "10.0.0.2:2380", "[fd00::6]:2380"}
	if !slices.Equal(got, want) {
		t.Errorf("peerPorts = %v, want %v (not the dead, not this node's earlier life, not one without a peer URL)", got, want)
	}
}

func TestAwaitPeerAccessReturnsOnceEveryPortAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// The member's port opens 200 ms late, as a watcher lets the node in.
	opened := make(chan net.Listener, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
		}
		opened <- l
	}()
	took, left := awaitPeerAccess(context.Background(), netip.MustParseAddr("127.0.0.1"), []string{addr})
	if l := <-opened; l != nil {
		defer l.Close()
	}
	if len(left) > 0 {
		t.Fatalf("still unreachable: %v", left)
	}
	if took < 200*time.Millisecond || took >= peerAccessTimeout {
		t.Errorf("waited %v; want from the port's opening on, well before %v", took, peerAccessTimeout)
	}
}

func TestAwaitPeerAccessGivesUpAndSaysWhich(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	open, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, left := awaitPeerAccess(ctx, netip.MustParseAddr("127.0.0.1"), []string{open.Addr().String(), closed})
	if !slices.Equal(left, []string{closed}) {
		t.Errorf("left = %v, want only the closed port %s", left, closed)
	}
}
