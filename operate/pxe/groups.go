package pxe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// Group is one entry of the groups file: which machine (one selector) boots
// which node's payload, how, and under which restrictions.
//
//	# groups.yaml
//	- selector: {mac: 52:54:00:aa:bb:01}
//	  node: etcd1
//	  profile: {os: flatcar}
//	  fetchLimit: 1
//	  allow: [10.123.0.0/24]
//	  allowMemberIPs: true
type Group struct {
	// Selector names the machine by exactly one of mac, uuid or hostname.
	Selector GroupSelector `yaml:"selector"`
	// Node is the directory under out/nodes/ whose payload the machine gets.
	Node string `yaml:"node"`
	// Profile is how the machine boots; left out, the default of the node's
	// payload format.
	Profile *Profile `yaml:"profile,omitempty"`
	// FetchLimit overrides Config.FetchLimit for this machine: how often its
	// node's payload may be fetched before re-arming; 0 is no limit.
	FetchLimit *int `yaml:"fetchLimit,omitempty"`
	// Allow lists the source addresses (CIDRs or single IPs) the machine's
	// requests may come from; empty with AllowMemberIPs unset allows any.
	Allow []string `yaml:"allow,omitempty"`
	// AllowMemberIPs adds the node's own member IPs to Allow.
	AllowMemberIPs bool `yaml:"allowMemberIPs,omitempty"`

	// pos is where the entry starts in the groups file, for messages.
	pos string
}

// GroupSelector is a group's selector as written: exactly one field is set.
type GroupSelector struct {
	MAC      string `yaml:"mac,omitempty"`
	UUID     string `yaml:"uuid,omitempty"`
	Hostname string `yaml:"hostname,omitempty"`
}

// selector normalizes the one identifier gs sets.
func (gs GroupSelector) selector() (Selector, error) {
	var set []Selector
	for _, s := range []Selector{{KeyMAC, gs.MAC}, {KeyUUID, gs.UUID}, {KeyHostname, gs.Hostname}} {
		if s.Value != "" {
			set = append(set, s)
		}
	}
	if len(set) != 1 {
		return Selector{}, fmt.Errorf("%w: set exactly one of mac, uuid or hostname (have %d)", ErrBadSelector, len(set))
	}
	return ParseSelector(set[0].Key, set[0].Value)
}

// ParseGroups decodes a groups file: a YAML list of Group. Unknown fields
// are errors; every problem is reported as file:line:col: what is wrong.
func ParseGroups(file string, data []byte) ([]Group, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(root.Content) == 0 {
		return nil, nil // only comments
	}
	list := root.Content[0]
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d:%d: want a list of groups (- selector: ... node: ...)", file, list.Line, list.Column)
	}
	var groups []Group
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&groups); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		errs := make([]error, len(te.Errors))
		for i, e := range te.Errors {
			// "line 3: field nodes not found in type pxe.Group"
			errs[i] = fmt.Errorf("%s:%s", file, strings.TrimPrefix(e, "line "))
		}
		return nil, errors.Join(errs...)
	}
	var errs []error
	for i := range groups {
		item := list.Content[i]
		groups[i].pos = fmt.Sprintf("%s:%d:%d", file, item.Line, item.Column)
		for _, err := range groups[i].problems() {
			errs = append(errs, fmt.Errorf("%s: groups[%d]: %w", groups[i].pos, i, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return groups, nil
}

// problems lists what can be checked without the out/ tree.
func (g Group) problems() []error {
	var errs []error
	if _, err := g.Selector.selector(); err != nil {
		errs = append(errs, fmt.Errorf("selector: %w", err))
	}
	if g.Node == "" {
		errs = append(errs, errors.New("node: missing; name a directory under out/nodes/"))
	}
	if g.FetchLimit != nil && *g.FetchLimit < 0 {
		errs = append(errs, fmt.Errorf("fetchLimit: %d is negative; 0 means no limit", *g.FetchLimit))
	}
	if _, err := parseAllow(g.Allow); err != nil {
		errs = append(errs, fmt.Errorf("allow: %w", err))
	}
	if g.Profile != nil && g.Profile.OS != "" {
		// Only what does not depend on the node: the full check runs once
		// the node's format is known.
		if _, ok := ownedArgs[g.Profile.OS]; !ok {
			errs = append(errs, fmt.Errorf("profile.os %q: use fcos, flatcar or debian", g.Profile.OS))
		}
	}
	return errs
}

// parseAllow reads allowlist entries: CIDRs, or single addresses.
func parseAllow(entries []string) ([]netip.Prefix, error) {
	var (
		out  []netip.Prefix
		errs []error
	)
	for i, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		errs = append(errs, fmt.Errorf("[%d] %q is not a CIDR or an IP address", i, e))
	}
	return out, errors.Join(errs...)
}
