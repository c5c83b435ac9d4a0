package lifecycle

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var errClosed = errors.New("test server closed")

// httpServing serves http on a loopback port, as the payload server does.
func httpServing(t *testing.T, stops *atomic.Int32) func() (Serving, error) {
	return func() (Serving, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return Serving{}, err
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})}
		return Serving{
			Addr: ln.Addr().String(),
			Loops: []Loop{func(started func()) error {
				started()
				return srv.Serve(ln)
			}},
			Stop: func(ctx context.Context) error {
				stops.Add(1)
				return srv.Shutdown(ctx)
			},
		}, nil
	}
}

func newLifecycle() *Lifecycle {
	return &Lifecycle{Name: "test server", Closed: errClosed, Ended: []error{http.ErrServerClosed}}
}

func TestStartsOnceAndStopsOnce(t *testing.T) {
	l := newLifecycle()
	var stops atomic.Int32
	if err := l.Start(httpServing(t, &stops)); err != nil {
		t.Fatal(err)
	}
	addr := l.Addr()
	if addr == "" {
		t.Fatal("no address after Start")
	}
	if err := l.Start(httpServing(t, &stops)); err == nil || err.Error() != "test server: already started" {
		t.Errorf("second Start = %v", err)
	}
	if _, err := http.Get("http://" + addr); err != nil {
		t.Errorf("not serving: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Stop(ctx); err != nil {
		t.Fatalf("Stop = %v (http.ErrServerClosed is the normal end)", err)
	}
	if err := l.Stop(ctx); err != errClosed {
		t.Errorf("second Stop = %v, want Closed", err)
	}
	if err := l.Start(httpServing(t, &stops)); err != errClosed {
		t.Errorf("Start after Stop = %v, want Closed", err)
	}
	if n := stops.Load(); n != 1 {
		t.Errorf("stopped %d times, want 1", n)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after Stop")
	}
}

func TestStopBeforeStartKeepsItFromStarting(t *testing.T) {
	l := newLifecycle()
	if err := l.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	var stops atomic.Int32
	if err := l.Start(httpServing(t, &stops)); err != errClosed {
		t.Errorf("Start after Stop = %v, want Closed", err)
	}
}

func TestALoopFailingToStartStopsTheOthers(t *testing.T) {
	l := newLifecycle()
	stopped := make(chan struct{})
	err := l.Start(func() (Serving, error) {
		return Serving{
			Addr: "127.0.0.1:53",
			Loops: []Loop{
				func(started func()) error { started(); <-stopped; return http.ErrServerClosed },
				func(func()) error { return errors.New("address in use") },
			},
			Stop: func(context.Context) error { close(stopped); return nil },
		}, nil
	})
	if err == nil || err.Error() != "test server: serve 127.0.0.1:53: address in use" {
		t.Fatalf("Start = %v", err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the started loop was not stopped")
	}
	if err := l.Stop(context.Background()); err != errClosed {
		t.Errorf("Stop after a failed Start = %v, want Closed", err)
	}
}

func TestStopReportsLoopsThatDoNotEndInTime(t *testing.T) {
	l := newLifecycle()
	release := make(chan struct{})
	defer close(release)
	err := l.Start(func() (Serving, error) {
		return Serving{
			Addr:  "127.0.0.1:8080",
			Loops: []Loop{func(started func()) error { started(); <-release; return nil }},
			Stop:  func(context.Context) error { return nil },
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "test server 127.0.0.1:8080: shutdown: ") {
		t.Errorf("Stop = %v, want the deadline, named", err)
	}
}

// fakeServer counts what Run does with it.
type fakeServer struct {
	started, shutdown atomic.Int32
}

func (f *fakeServer) Start() error                   { f.started.Add(1); return nil }
func (f *fakeServer) Shutdown(context.Context) error { f.shutdown.Add(1); return nil }

func TestRunReloadsOnSignalAndStopsWithItsContext(t *testing.T) {
	s := &fakeServer{}
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan os.Signal)
	reloaded := make(chan struct{})
	announced := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, s, func() { close(announced) }, reload, func() { reloaded <- struct{}{} })
	}()
	<-announced
	for range 2 {
		reload <- os.Interrupt
		<-reloaded
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if s.started.Load() != 1 || s.shutdown.Load() != 1 {
		t.Errorf("started %d, shut down %d times; want 1, 1", s.started.Load(), s.shutdown.Load())
	}
}
