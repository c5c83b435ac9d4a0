package pxe

import (
	"strings"
	"testing"
)

func TestParseSelectorNormalizes(t *testing.T) {
	for _, tc := range []struct {
		key       SelectorKey
		in, want  string
		wantError bool
	}{
		{KeyMAC, "52:54:00:AA:bb:01", "52:54:00:aa:bb:01", false},
		{KeyMAC, "52-54-00-aa-BB-01", "52:54:00:aa:bb:01", false},
		{KeyMAC, "5254.00aa.bb01", "", true},
		{KeyMAC, "52:54:00:aa:bb:01:02", "", true},
		{KeyMAC, "52:54-00:aa:bb:01", "", true},
		{KeyMAC, "", "", true},
		{KeyUUID, "4C4C4544-0042-3510-8051-B4C04F4D3232", "4c4c4544-0042-3510-8051-b4c04f4d3232", false},
		{KeyUUID, "4c4c4544004235108051b4c04f4d3232", "", true},
		{KeyUUID, "4c4c4544-0042-3510-8051-b4c04f4d323g", "", true},
		{KeyHostname, "Node-1.Lab.", "node-1.lab", false},
		{KeyHostname, "-bad.lab", "", true},
		{KeyHostname, "a..b", "", true},
		{KeyHostname, "under_score", "", true},
		{"serial", "x", "", true},
	} {
		got, err := ParseSelector(tc.key, tc.in)
		if tc.wantError {
			if err == nil {
				t.Errorf("%s %q: accepted as %q", tc.key, tc.in, got.Value)
			}
			continue
		}
		if err != nil || got.Value != tc.want {
			t.Errorf("%s %q: %q, %v; want %q", tc.key, tc.in, got.Value, err, tc.want)
		}
	}
}

func TestParsePathLabelTellsMACUUIDAndHostnameApart(t *testing.T) {
	for in, want := range map[string]Labels{
		"52-54-00-aa-bb-01":                    {MAC: "52:54:00:aa:bb:01"},
		"52:54:00:aa:bb:01":                    {MAC: "52:54:00:aa:bb:01"},
		"4c4c4544-0042-3510-8051-b4c04f4d3232": {UUID: "4c4c4544-0042-3510-8051-b4c04f4d3232"},
		"node1.lab":                            {Hostname: "node1.lab"},
	} {
		if got, err := ParsePathLabel(in); err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := ParsePathLabel("52-54-00-aa-bb-zz"); err == nil {
		t.Error("a malformed MAC was read as a hostname")
	}
}

func TestParseGroupsReportsEveryProblemWithItsPosition(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"not a list", "selector: {mac: 52:54:00:aa:bb:01}\n", []string{"g.yaml:1:1: want a list of groups"}},
		{"unknown field", "- selector: {mac: 52:54:00:aa:bb:01}\n  node: etcd1\n  nodes: etcd2\n", []string{"g.yaml:3: field nodes not found in type pxe.Group"}},
		{"two problems in two groups", "- selector: {mac: 52:54:00:aa:bb:01, uuid: 4c4c4544-0042-3510-8051-b4c04f4d3232}\n  node: etcd1\n- selector: {hostname: ok.lab}\n  fetchLimit: -1\n  allow: [10.0.0.0/33]\n", []string{
			"g.yaml:1:3: groups[0]: selector: bad selector: set exactly one of mac, uuid or hostname (have 2)",
			"g.yaml:3:3: groups[1]: node: missing",
			"g.yaml:3:3: groups[1]: fetchLimit: -1 is negative",
			`g.yaml:3:3: groups[1]: allow: [0] "10.0.0.0/33" is not a CIDR or an IP address`,
		}},
		{"bad os", "- selector: {mac: 52:54:00:aa:bb:01}\n  node: etcd1\n  profile: {os: windows}\n", []string{`groups[0]: profile.os "windows": use fcos, flatcar or debian`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseGroups("g.yaml", []byte(tc.in))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	if g, err := ParseGroups("g.yaml", []byte("# nothing yet\n")); err != nil || g != nil {
		t.Errorf("comments only: %v, %v", g, err)
	}
}

func TestGroupsAgainstTheTree(t *testing.T) {
	tr := newTree(t)
	for _, tc := range []struct{ name, groups, want string }{
		{"unknown node", "- selector: {mac: 52:54:00:aa:bb:31}\n  node: etcd9\n", `node "etcd9": no such directory under out/nodes/ (have etcd1, etcd2, etcd3)`},
		{"duplicate selector", "- selector: {uuid: 4c4c4544-0042-3510-8051-b4c04f4d3232}\n  node: etcd1\n- selector: {uuid: 4C4C4544-0042-3510-8051-B4C04F4D3232}\n  node: etcd2\n", "selector uuid=4c4c4544-0042-3510-8051-b4c04f4d3232 is already used at"},
		{"member MAC given to another node", "- selector: {mac: 52-54-00-AA-BB-01}\n  node: etcd2\n", "mac=52:54:00:aa:bb:01 is the MAC of node etcd1 (in nodes/etcd1/node.yaml), not of etcd2"},
		{"os and format disagree", "- selector: {mac: 52:54:00:aa:bb:31}\n  node: etcd1\n  profile: {os: flatcar, format: cloud-init}\n", `format "cloud-init": flatcar reads ignition`},
		{"arg the server owns", "- selector: {mac: 52:54:00:aa:bb:31}\n  node: etcd1\n  profile: {args: [ignition.config.url=http://evil/]}\n", "etcdboot sets ignition.config.url itself"},
		{"arg with a space", "- selector: {mac: 52:54:00:aa:bb:31}\n  node: etcd1\n  profile: {args: [\"a b\"]}\n", "one argument, without spaces"},
		{"kernel without initrd", "- selector: {mac: 52:54:00:aa:bb:31}\n  node: etcd1\n  profile: {kernel: http://x/k}\n", "kernel without initrd"},
		{"kernel URL with a setting", "- selector: {mac: 52:54:00:aa:bb:31}\n  node: etcd1\n  profile: {kernel: 'http://x/${k}', initrd: [http://x/i]}\n", "without spaces, control characters or iPXE settings"},
		{"install on flatcar", "- selector: {mac: 52:54:00:aa:bb:31}\n  node: etcd1\n  profile: {os: flatcar, installDevice: /dev/sda}\n", "installDevice: only fcos installs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap, err := Store{Dir: tr.out}.Load() // nodes only: must load
			if err != nil {
				t.Fatal(err)
			}
			groups, err := ParseGroups("g.yaml", []byte(tc.groups))
			if err == nil {
				_, err = buildMachines(snap.nodes, groups, 0)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMemberMACRestatedByAGroupTakesTheGroupsProfile(t *testing.T) {
	tr := newTree(t)
	snap, err := Store{Dir: tr.out}.Load()
	if err != nil {
		t.Fatal(err)
	}
	groups, err := ParseGroups("g.yaml", []byte("- selector: {mac: 52-54-00-aa-bb-01}\n  node: etcd1\n  profile: {os: flatcar}\n  fetchLimit: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	table, err := buildMachines(snap.nodes, groups, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := table.match(Labels{MAC: macEtcd1})
	if m == nil || m.Profile.OS != OSFlatcar || m.FetchLimit != 3 || m.Origin != "g.yaml" && !strings.HasPrefix(m.Origin, "g.yaml:") {
		t.Errorf("machine %+v: want the group's flatcar profile and limit 3", m)
	}
	if m := table.match(Labels{MAC: macEtcd2}); m == nil || m.FetchLimit != 1 || m.Profile.OS != OSFedoraCoreOS {
		t.Errorf("etcd2 %+v: want the member default (fcos, limit 1)", m)
	}
}
