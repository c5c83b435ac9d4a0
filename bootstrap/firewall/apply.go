package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// ErrNotFound means the table does not exist in the kernel: no policy has
// been applied (or it was removed).
var ErrNotFound = errors.New("firewall table not found")

// Option changes where the kernel functions act.
type Option func(*options)

type options struct {
	netns    int
	netnsSet bool
}

// WithNetNS makes the call act in the network namespace referred to by the
// open file descriptor fd (for example of /run/netns/NAME) instead of the
// caller's. The caller keeps ownership of fd.
func WithNetNS(fd int) Option {
	return func(o *options) { o.netns, o.netnsSet = fd, true }
}

func newOptions(opts []Option) (options, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// netlink treats fd 0 as "the current namespace": refuse it rather than
	// silently firewalling the wrong namespace.
	if o.netnsSet && o.netns <= 0 {
		return o, fmt.Errorf("WithNetNS(%d): need the open file descriptor of a network namespace", o.netns)
	}
	return o, nil
}

func (o options) conn() (*nftables.Conn, error) {
	var copts []nftables.ConnOption
	if o.netnsSet {
		copts = append(copts, nftables.WithNetNSFd(o.netns))
	}
	c, err := nftables.New(copts...)
	if err != nil {
		return nil, fmt.Errorf("open nftables netlink connection: %w", err)
	}
	return c, nil
}

// applyMu serialises Apply within the process: google/nftables allocates set
// IDs from a package-level counter without locking.
var applyMu sync.Mutex

// Apply makes the kernel's inet table p.Table hold exactly the ruleset of p.
//
// If the kernel already holds that ruleset (same sets, elements, chain and
// rules, as read by Current) Apply changes nothing and returns nil: re-applying
// an identical policy is a no-op and every handle stays as it was.
// Otherwise it replaces the table in one netlink batch (create-if-missing,
// delete, create with sets, elements, chains and rules) committed by a single
// Flush, so packets see either the old or the new ruleset, never a mix; an
// output chain of the old table that p no longer has goes with it.
func Apply(p Policy, opts ...Option) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("apply firewall: %w", err)
	}
	p = p.Canonical()
	o, err := newOptions(opts)
	if err != nil {
		return fmt.Errorf("apply firewall table inet %s: %w", p.Table, err)
	}
	c, err := o.conn()
	if err != nil {
		return fmt.Errorf("apply firewall table inet %s: %w", p.Table, err)
	}
	applyMu.Lock()
	defer applyMu.Unlock()

	if cur, err := current(c, o, p.Table); err == nil && cur.Equal(p) {
		return nil
	}

	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: p.Table}
	// "add; delete; add" is `nft -f`'s replace idiom: deleting a table that
	// does not exist would fail the whole batch.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	sets := make(map[string]*nftables.Set, len(allSets))
	for _, s := range allSets {
		set := nftSet(t, s)
		var elems []nftables.SetElement
		if s.interval {
			elems = intervalElements(p.prefixes(s))
		} else {
			elems = addrElements(p.addrs(s))
		}
		if err := c.AddSet(set, elems); err != nil {
			return fmt.Errorf("apply firewall table inet %s: set %s: %w", p.Table, s.name, err)
		}
		sets[s.name] = set
	}
	ch := c.AddChain(&nftables.Chain{
		Name:     chainName,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookInput,
		Priority: nftables.ChainPriorityFilter,
		Policy:   ptr(nftables.ChainPolicyAccept),
	})
	// Both chains before any rule, as `nft -f` orders NFT(): the kernel then
	// numbers every handle the same way for both.
	var out *nftables.Chain
	metadata := p.metadataRules()
	if len(metadata) > 0 {
		out = c.AddChain(&nftables.Chain{
			Name:     outputChainName,
			Table:    t,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  nftables.ChainHookOutput,
			Priority: nftables.ChainPriorityFilter,
			Policy:   ptr(nftables.ChainPolicyAccept),
		})
	}
	for _, r := range p.rules() {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r.exprs(sets[r.set.name])})
	}
	for _, r := range metadata {
		c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: r.exprs()})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("apply firewall table inet %s: commit batch (nothing was changed): %w", p.Table, err)
	}
	return nil
}

// ReplacePeers atomically swaps the contents of the peer sets (peers4 and
// peers6) of an applied table for peers: one batch flushes both sets and adds
// the new elements, so no packet ever sees an empty or half-filled peer set.
// Rules and the other sets are untouched. table "" means DefaultTable.
func ReplacePeers(table string, peers []netip.Addr, opts ...Option) error {
	if table == "" {
		table = DefaultTable
	}
	fail := func(err error) error {
		return fmt.Errorf("replace peers in firewall table inet %s: %w", table, err)
	}
	var errs []error
	if err := validateTable(table); err != nil {
		errs = append(errs, err)
	}
	for i, a := range peers {
		if err := validatePeer(a); err != nil {
			errs = append(errs, fmt.Errorf("%w: peers[%d]: %v", ErrInvalidPolicy, i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	o, err := newOptions(opts)
	if err != nil {
		return fail(err)
	}
	c, err := o.conn()
	if err != nil {
		return fail(err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: table}
	p := Policy{Peers: peers}
	for _, s := range []setDef{setPeers4, setPeers6} {
		set := nftSet(t, s)
		c.FlushSet(set)
		if elems := addrElements(p.addrs(s)); len(elems) > 0 {
			if err := c.SetAddElements(set, elems); err != nil {
				return fail(fmt.Errorf("set %s: %w", s.name, err))
			}
		}
	}
	if err := c.Flush(); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fail(fmt.Errorf("%w or lacks set %s/%s; apply the policy first (nothing was changed): %w", ErrNotFound, setPeers4.name, setPeers6.name, err))
		}
		return fail(fmt.Errorf("commit batch (nothing was changed): %w", err))
	}
	return nil
}

// Remove deletes the table and everything in it; removing a table that does
// not exist is not an error. table "" means DefaultTable.
func Remove(table string, opts ...Option) error {
	if table == "" {
		table = DefaultTable
	}
	if err := validateTable(table); err != nil {
		return fmt.Errorf("remove firewall: %w", err)
	}
	o, err := newOptions(opts)
	if err != nil {
		return fmt.Errorf("remove firewall table inet %s: %w", table, err)
	}
	c, err := o.conn()
	if err != nil {
		return fmt.Errorf("remove firewall table inet %s: %w", table, err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: table}
	c.AddTable(t) // so that the delete cannot fail on a missing table
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("remove firewall table inet %s: %w", table, err)
	}
	return nil
}

// nftSet returns the google/nftables description of a set of table t.
func nftSet(t *nftables.Table, s setDef) *nftables.Set {
	key := nftables.TypeIPAddr
	if s.ipv6 {
		key = nftables.TypeIP6Addr
	}
	return &nftables.Set{
		Table:        t,
		Name:         s.name,
		KeyType:      key,
		Interval:     s.interval,
		KeyByteOrder: binaryutil.BigEndian, // addresses, as nft declares them
	}
}

// Register 1 is the first 16-byte data register (NFT_REG_1), what nft uses.
const reg1 = 1

// loName is "lo" as the kernel compares interface names: IFNAMSIZ bytes.
var loName = func() []byte { b := make([]byte, unix.IFNAMSIZ); copy(b, "lo"); return b }()

// exprs compiles r to the same expressions nft generates for r.nft() in an
// inet table; set is the set a fromSet rule looks up.
func (r rule) exprs(set *nftables.Set) []expr.Any {
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}, // dport
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.BigEndian.PutUint16(r.port)},
	}
	switch r.source {
	case fromLoopback:
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: loName},
		)
	case fromSet, fromSetNotLoopback:
		if r.source == fromSetNotLoopback {
			e = append(e,
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: loName},
			)
		}
		// In an inet table "ip saddr" implies "meta nfproto ipv4".
		proto, off, n := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
		if r.set.ipv6 {
			proto, off, n = unix.NFPROTO_IPV6, 8, 16
		}
		lookup := &expr.Lookup{SourceRegister: reg1, SetName: r.set.name}
		if set != nil {
			lookup.SetID = set.ID
		}
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{proto}},
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
			lookup,
		)
	}
	switch r.verdict {
	case verdictAccept:
		return append(e, &expr.Verdict{Kind: expr.VerdictAccept})
	case verdictReset:
		return append(e, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	}
	return append(e, &expr.Verdict{Kind: expr.VerdictDrop})
}

// exprs compiles r to the same expressions nft generates for r.nft() in an
// inet table.
func (r metadataRule) exprs() []expr.Any {
	// In an inet table "ip daddr" implies "meta nfproto ipv4".
	proto, off, n := byte(unix.NFPROTO_IPV4), uint32(16), uint32(4)
	if r.addr.Is6() {
		proto, off, n = unix.NFPROTO_IPV6, 24, 16
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{proto}},
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: r.addr.AsSlice()},
		// skuid is a host-order uint32; 0 reads the same in either order.
		&expr.Meta{Key: expr.MetaKeySKUID, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0, 0, 0, 0}},
		&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED},
	}
}

func ptr[T any](v T) *T { return &v }
