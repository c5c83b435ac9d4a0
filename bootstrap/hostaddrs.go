package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// ErrAddressMissing means the host does not carry an address the member's
// payload names, so etcd could not bind it.
var ErrAddressMissing = errors.New("this host has no such address")

// missingAddrs checks that the host carries every address of want.
func missingAddrs(want, host []netip.Addr) error {
	var missing []netip.Addr
	for _, ip := range want {
		if !slices.Contains(host, ip) {
			missing = append(missing, ip)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %v (the host has %v)", ErrAddressMissing, missing, host)
	}
	return nil
}

// awaitHostAddrs lists the host's addresses until accept takes them. With
// wait (Up) it waits up to AddressTimeout, since its unit may start before
// the network is configured (cloud-init's DHCP, a slow link); every other
// command looks once.
func (a *Agent) awaitHostAddrs(ctx context.Context, wait bool, accept func([]netip.Addr) error) error {
	deadline := a.cfg.Now().Add(a.cfg.AddressTimeout)
	logged := false
	for {
		addrs, err := HostAddrs()
		if err != nil {
			return err
		}
		err = accept(addrs)
		if err == nil || !wait {
			return err
		}
		if a.cfg.Now().After(deadline) {
			return fmt.Errorf("after %v: %w; check that the network comes up and that this payload is this machine's", a.cfg.AddressTimeout, err)
		}
		if !logged {
			a.log.Info("waiting for this node's address", "err", err, "timeout", a.cfg.AddressTimeout)
			logged = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for this node's address: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
