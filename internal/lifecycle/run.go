package lifecycle

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// StopTimeout is how long Run gives work in flight once its context ends.
const StopTimeout = 10 * time.Second

// Server is what Run keeps in the foreground.
type Server interface {
	Start() error
	Shutdown(ctx context.Context) error
}

// Run starts s and calls started (to say where it serves), then serves
// until ctx ends and shuts s down, giving work in flight StopTimeout. Each
// value received on reload (SIGHUP) calls onReload; a nil reload never
// fires.
func Run(ctx context.Context, s Server, started func(), reload <-chan os.Signal, onReload func()) error {
	if err := s.Start(); err != nil {
		return err
	}
	started()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
			defer cancel()
			return s.Shutdown(sctx)
		case <-reload:
			onReload()
		}
	}
}

// Signals returns a context that ends on SIGINT or SIGTERM and, with hup,
// a channel of the SIGHUPs that ask a server to reload (nil without: SIGHUP
// then keeps its default action). stop releases both.
func Signals(parent context.Context, hup bool) (ctx context.Context, reload <-chan os.Signal, stop func()) {
	ctx, cancel := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	if !hup {
		return ctx, nil, cancel
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ctx, ch, func() {
		signal.Stop(ch)
		cancel()
	}
}
