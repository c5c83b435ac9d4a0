package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Loop is one blocking serve loop (http.Server.Serve, dns.Server's
// ActivateAndServe): it calls started once it serves and returns when the
// server is stopped, or fails.
type Loop func(started func()) error

// Serving is what a server's listen step hands its Lifecycle: the address
// it listens on, its serve loops, and how to stop them.
type Serving struct {
	Addr  string
	Loops []Loop
	// Stop makes every loop return, waiting up to ctx for work in flight.
	Stop func(ctx context.Context) error
}

// Lifecycle lets a server start once and stop once, and runs its serve
// loops in the background in between. The zero value is not usable: set
// Name and Closed.
type Lifecycle struct {
	// Name prefixes errors: "dns server", "payload server".
	Name string
	// Closed is returned by Start after Stop and by a second Stop.
	Closed error
	// Ended are the errors with which a loop returns when stopped
	// (http.ErrServerClosed, net.ErrClosed): not failures.
	Ended []error

	mu      sync.Mutex
	state   state
	serving Serving
	served  chan error
}

type state int

const (
	stateNew state = iota
	stateRunning
	stateStopped
)

// startFailedTimeout bounds stopping the other loops when one fails to start.
const startFailedTimeout = time.Second

// Addr returns the address the server listens on; empty before Start.
func (l *Lifecycle) Addr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.serving.Addr
}

// Start calls listen once, unless the server was started or stopped before,
// and runs the loops it returns in the background. It returns once every
// loop has started; when one fails first, it stops the others and returns
// that failure. listen runs under the lifecycle's lock.
func (l *Lifecycle) Start(listen func() (Serving, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.state {
	case stateRunning:
		return fmt.Errorf("%s: already started", l.Name)
	case stateStopped:
		return l.Closed
	}
	s, err := listen()
	if err != nil {
		return err
	}
	l.serving = s
	started := make(chan struct{}, len(s.Loops))
	l.served = make(chan error, len(s.Loops))
	for _, loop := range s.Loops {
		go func() { l.served <- loop(func() { started <- struct{}{} }) }()
	}
	for range s.Loops {
		select {
		case <-started:
		case err := <-l.served:
			ctx, cancel := context.WithTimeout(context.Background(), startFailedTimeout)
			defer cancel()
			_ = s.Stop(ctx)
			l.state = stateStopped
			return fmt.Errorf("%s: serve %s: %w", l.Name, s.Addr, err)
		}
	}
	l.state = stateRunning
	return nil
}

// Stop stops the server once: it calls Serving.Stop and waits, up to ctx,
// for every loop to return. Stopping a server that never started only
// keeps it from starting.
func (l *Lifecycle) Stop(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.state {
	case stateNew:
		l.state = stateStopped
		return nil
	case stateStopped:
		return l.Closed
	}
	l.state = stateStopped
	var errs []error
	if err := l.serving.Stop(ctx); err != nil {
		errs = append(errs, err)
	}
	for range l.serving.Loops {
		var err error
		select {
		case err = <-l.served: // a loop that has returned wins over an ended ctx
		default:
			select {
			case err = <-l.served:
			case <-ctx.Done():
				errs = append(errs, ctx.Err())
				return l.stopError(errs)
			}
		}
		if err != nil && !l.ended(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return l.stopError(errs)
	}
	return nil
}

func (l *Lifecycle) ended(err error) bool {
	for _, e := range l.Ended {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (l *Lifecycle) stopError(errs []error) error {
	return fmt.Errorf("%s %s: shutdown: %w", l.Name, l.serving.Addr, errors.Join(errs...))
}
