package firewall

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// kernelRule is one rule as dumped by the kernel.
type kernelRule struct {
	keys  []string   // exprKeys of its expressions, for comparison
	port  uint16     // the TCP dport it matches, 0 if none
	set   string     // the set it looks up, "" if none
	daddr netip.Addr // the destination address it matches, zero if none
}

// dumpRules lists the rules of a chain straight from netlink. google/nftables
// v0.2.0 cannot be used here: its GetRules decodes a verdict ("immediate reg 0
// accept") as an expr.Immediate with no data, so accept and drop would look
// the same. Expressions other than verdicts are decoded with expr.Unmarshal.
func dumpRules(o options, table, chain string) ([]kernelRule, error) {
	cfg := &netlink.Config{}
	if o.netnsSet {
		cfg.NetNS = o.netns
	}
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, fmt.Errorf("dial netlink: %w", err)
	}
	defer conn.Close()

	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_RULE_TABLE, Data: []byte(table + "\x00")},
		{Type: unix.NFTA_RULE_CHAIN, Data: []byte(chain + "\x00")},
	})
	if err != nil {
		return nil, err
	}
	msgs, err := conn.Execute(netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETRULE),
			Flags: netlink.Request | netlink.Dump,
		},
		// nfgenmsg: family, version, resource id.
		Data: append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, attrs...),
	})
	if err != nil {
		return nil, fmt.Errorf("dump rules: %w", err)
	}
	var rules []kernelRule
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		r, err := decodeRule(m.Data[4:])
		if err != nil {
			return nil, fmt.Errorf("decode rule: %w", err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func decodeRule(b []byte) (kernelRule, error) {
	var r kernelRule
	var exprs []expr.Any
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return r, err
	}
	for ad.Next() {
		if ad.Type() != unix.NFTA_RULE_EXPRESSIONS {
			continue
		}
		ad.Nested(func(list *netlink.AttributeDecoder) error {
			for list.Next() {
				if list.Type() != unix.NFTA_LIST_ELEM {
					continue
				}
				list.Nested(func(e *netlink.AttributeDecoder) error {
					var name string
					var data []byte
					for e.Next() {
						switch e.Type() {
						case unix.NFTA_EXPR_NAME:
							name = e.String()
						case unix.NFTA_EXPR_DATA:
							data = e.Bytes()
						}
					}
					if err := e.Err(); err != nil {
						return err
					}
					x, err := decodeExpr(name, data)
					if err != nil {
						return err
					}
					exprs = append(exprs, x)
					return nil
				})
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return r, err
	}
	r.keys = exprKeys(exprs)
	for i, x := range exprs {
		switch x := x.(type) {
		case *expr.Payload:
			if x.Base == expr.PayloadBaseTransportHeader && x.Offset == 2 && x.Len == 2 && i+1 < len(exprs) {
				if c, ok := exprs[i+1].(*expr.Cmp); ok && c.Op == expr.CmpOpEq && len(c.Data) == 2 {
					r.port = binary.BigEndian.Uint16(c.Data)
				}
			}
			if x.Base == expr.PayloadBaseNetworkHeader && ((x.Offset == 16 && x.Len == 4) || (x.Offset == 24 && x.Len == 16)) && i+1 < len(exprs) {
				if c, ok := exprs[i+1].(*expr.Cmp); ok && c.Op == expr.CmpOpEq && len(c.Data) == int(x.Len) {
					r.daddr, _ = netip.AddrFromSlice(c.Data)
				}
			}
		case *expr.Lookup:
			r.set = x.SetName
		}
	}
	return r, nil
}

// decodeExpr decodes one expression of a kind etcdboot writes; any other kind
// is drift and comes back as an expression that equals nothing etcdboot writes.
func decodeExpr(name string, data []byte) (expr.Any, error) {
	var e expr.Any
	switch name {
	case "meta":
		e = &expr.Meta{}
	case "cmp":
		e = &expr.Cmp{}
	case "payload":
		e = &expr.Payload{}
	case "lookup":
		e = &expr.Lookup{}
	case "reject":
		e = &expr.Reject{}
	case "immediate":
		return decodeImmediate(data)
	default:
		// expr.Any cannot be implemented outside package expr: an Immediate
		// to an impossible register stands in for the unknown kind.
		return &expr.Immediate{Register: ^uint32(0), Data: append([]byte(name+":"), data...)}, nil
	}
	if err := expr.Unmarshal(unix.NFPROTO_INET, data, e); err != nil {
		return nil, fmt.Errorf("decode %s expression: %w", name, err)
	}
	return e, nil
}

// decodeImmediate decodes an immediate expression, keeping verdicts.
func decodeImmediate(data []byte) (expr.Any, error) {
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return nil, err
	}
	imm := &expr.Immediate{}
	var verdict *expr.Verdict
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_IMMEDIATE_DREG:
			imm.Register = binaryutil.BigEndian.Uint32(ad.Bytes())
		case unix.NFTA_IMMEDIATE_DATA:
			ad.Nested(func(d *netlink.AttributeDecoder) error {
				for d.Next() {
					switch d.Type() {
					case unix.NFTA_DATA_VALUE:
						imm.Data = d.Bytes()
					case unix.NFTA_DATA_VERDICT:
						verdict = &expr.Verdict{}
						d.Nested(func(v *netlink.AttributeDecoder) error {
							for v.Next() {
								switch v.Type() {
								case unix.NFTA_VERDICT_CODE:
									verdict.Kind = expr.VerdictKind(int32(binaryutil.BigEndian.Uint32(v.Bytes())))
								case unix.NFTA_VERDICT_CHAIN:
									verdict.Chain = v.String()
								}
							}
							return nil
						})
					}
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return nil, err
	}
	if verdict != nil && imm.Register == unix.NFT_REG_VERDICT {
		return verdict, nil
	}
	return imm, nil
}
