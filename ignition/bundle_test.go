package ignition

import (
	"strings"
	"testing"

	"github.com/etcdboot/etcdboot/spec"
)

func TestHostsEntries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []spec.Member
		want    string
	}{
		{"none", nil, ""},
		{"no addresses", []spec.Member{{Name: "etcd1"}}, ""},
		{
			"sorted by address, not by name or input order",
			[]spec.Member{
				{Name: "etcd3", IPs: []string{"192.168.2.53"}, FQDN: "etcd3.example.internal"},
				{Name: "etcd10", IPs: []string{"192.168.2.100"}},
				{Name: "etcd1", IPs: []string{"192.168.2.51", "fd00::51"}, FQDN: "etcd1.example.internal"},
				{Name: "etcd2", IPs: []string{"192.168.2.9"}, FQDN: "etcd2"},
			},
			"# etcdboot\n" +
				"192.168.2.9 etcd2\n" +
				"192.168.2.51 etcd1 etcd1.example.internal\n" +
				"192.168.2.53 etcd3 etcd3.example.internal\n" +
				"192.168.2.100 etcd10\n" +
				"fd00::51 etcd1 etcd1.example.internal\n",
		},
		{
			"canonical IPv6, duplicates once, unusable entries left out",
			[]spec.Member{
				{Name: "b", IPs: []string{"FD00:0::1", "10.0.0.1", "10.0.0.1"}},
				{Name: "a", IPs: []string{"10.0.0.1", "not-an-ip", "fe80::1%eth0"}},
				{Name: "bad name", IPs: []string{"10.0.0.2"}},
			},
			"# etcdboot\n10.0.0.1 a\n10.0.0.1 b\nfd00::1 b\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := HostsEntries(tc.members); got != tc.want {
				t.Errorf("HostsEntries:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestInvalidBundleReportsEveryProblem(t *testing.T) {
	b := placeholderBundle()
	b.PayloadPath = "etc/node.yaml"
	b.Hostname = "etcd_1"
	b.Payload.Members[1].IPs = []string{"192.168.2.300"}
	b.Payload.Members[2].Name = "etcd 3"
	b.Files = append(b.Files,
		File{Path: "/etc/etcdboot/pki/../ca.crt"},
		File{Path: b.Payload.TLS.CAFile},
		File{Path: "/etc/hosts"},
		File{Path: "/etc/etcdboot/pki/extra.key", Secret: true, Mode: 0o640},
		File{Path: "/etc/etcdboot/pki/leak.pem", Contents: []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")},
		File{Path: "/etc/etcdboot/pki/setuid", Mode: 0o4755},
	)
	for i := range b.Files {
		if b.Files[i].Path == b.Payload.TLS.PeerKeyFile {
			b.Files[i].Secret = false
		}
	}
	want := []string{
		`bundle for node "etcd1" is not valid`,
		`payloadPath: path "etc/node.yaml" is relative`,
		`hostname "etcd_1": not a valid hostname`,
		`(/etc/etcdboot/pki/../ca.crt): path "/etc/etcdboot/pki/../ca.crt" is not a clean file path; write it as "/etc/etcdboot/ca.crt"`,
		`(/etc/etcdboot/pki/ca.crt): the path appears twice`,
		`(/etc/hosts): the path is reserved`,
		`(/etc/etcdboot/pki/extra.key): a secret file may not be readable by group or others (mode 0640); use 0600`,
		`(/etc/etcdboot/pki/leak.pem): the contents hold a private key but the file is not Secret`,
		`(/etc/etcdboot/pki/peer.key): the payload names this path as tls.peerKeyFile but the file is not Secret`,
		`(/etc/etcdboot/pki/setuid): mode 04755 has bits beyond the permissions`,
		`members[1] (etcd2): ip "192.168.2.300": not an IP address`,
		`members[2] (etcd 3): name "etcd 3" cannot go in /etc/hosts`,
	}
	check := func(name string, err error) {
		if err == nil {
			t.Fatalf("%s accepted an invalid bundle", name)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", name, w, err)
			}
		}
	}
	_, err := RenderButane(b, VariantFCOS)
	check("RenderButane", err)
	_, err = RenderIgnition(b, VariantFlatcar)
	check("RenderIgnition", err)
	_, err = RenderCloudInit(b)
	check("RenderCloudInit", err)
}

func TestLaunchPayloadIsNamedByCluster(t *testing.T) {
	b := placeholderBundle()
	b.Payload.Node = nil
	b.PayloadPath = "relative"
	_, err := RenderCloudInit(b)
	if err == nil || !strings.Contains(err.Error(), `launch payload of cluster "etcd-cluster"`) {
		t.Errorf("error %v does not name the launch payload", err)
	}
}
