package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/e2e/testcluster"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
)

// loadWriter puts keys prefix000000, prefix000001, ... one after the other
// through a client of every member until stopped, retrying a failed put of
// the same key. It reconnects every second so that new TLS handshakes
// happen throughout, each time loading files as they are then: a rotation
// that rewrites them is followed. A pair read between two writes of a
// rotation is no request; the previous configuration stays.
type loadWriter struct {
	files     tlsfiles.Files
	endpoints []string
	prefix    string

	mu       sync.Mutex
	written  int
	failures []string
}

func (w *loadWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

func (w *loadWriter) fail(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures = append(w.failures, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
}

func (w *loadWriter) run(stop <-chan struct{}) {
	var cli *clientv3.Client
	var conf *tls.Config
	defer func() {
		if cli != nil {
			cli.Close()
		}
	}()
	var connected time.Time
	for i := 0; ; {
		select {
		case <-stop:
			return
		default:
		}
		if cli == nil || time.Since(connected) > time.Second {
			if c, err := w.files.ClientConfig(); err == nil {
				conf = c
			} else if conf == nil {
				w.fail("client TLS: %v", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if cli != nil {
				cli.Close()
			}
			var err error
			cli, err = clientv3.New(clientv3.Config{Endpoints: w.endpoints, TLS: conf.Clone(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				w.fail("connect: %v", err)
				cli = nil
				time.Sleep(100 * time.Millisecond)
				continue
			}
			connected = time.Now()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		key := fmt.Sprintf("%s%06d", w.prefix, i)
		_, err := cli.Put(ctx, key, strconv.Itoa(i))
		cancel()
		if err != nil {
			w.fail("put %s: %v", key, err)
			time.Sleep(100 * time.Millisecond)
			continue // the same key again
		}
		i++
		w.mu.Lock()
		w.written = i
		w.mu.Unlock()
	}
}

// start runs w until the returned func stops it (which the test's cleanup
// also does).
func (w *loadWriter) start(t *testing.T) (stop func()) {
	stopc, done := make(chan struct{}), make(chan struct{})
	go func() { defer close(done); w.run(stopc) }()
	stop = sync.OnceFunc(func() { close(stopc); <-done })
	t.Cleanup(stop)
	return stop
}

// waitFor waits until w has written n keys, failing t after 30 s.
func (w *loadWriter) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for w.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the writer wrote %d keys in 30s, want %d; failures: %v", w.count(), n, w.failures)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// check fails t when more than one put failed or the keys under w's prefix
// are not as many as w wrote, read through a fresh client of c; w must be
// stopped. It returns those keys.
func (w *loadWriter) check(ctx context.Context, t *testing.T, c *testcluster.Cluster) []*mvccpb.KeyValue {
	t.Helper()
	if len(w.failures) > 1 {
		t.Errorf("%d failed puts, want at most one (retried):\n%s", len(w.failures), strings.Join(w.failures, "\n"))
	} else {
		t.Logf("%d keys written, failed puts: %v", w.written, w.failures)
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, w.prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != w.written {
		t.Errorf("%d keys under %s, want the %d written", len(resp.Kvs), w.prefix, w.written)
	}
	return resp.Kvs
}
