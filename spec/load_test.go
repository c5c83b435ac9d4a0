package spec

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const validHeader = `apiVersion: etcdboot/v1
name: demo
`

const threeMembers = `members:
  - name: etcd1
    ips: [10.0.0.1]
  - name: etcd2
    ips: [10.0.0.2]
  - name: etcd3
    ips: [10.0.0.3]
`

func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("../examples/*/cluster.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("want at least 4 examples, got %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			c, rep, err := LoadCluster(f)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if len(rep.Problems) != 0 {
				t.Errorf("unexpected warnings:\n%s", rep)
			}
			if c.Size() < 1 {
				t.Errorf("size %d", c.Size())
			}
		})
	}
}

func TestClassicExampleMatchesManualProcedure(t *testing.T) {
	c, _, err := LoadCluster("../examples/three-node-static/cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Etcd.HeartbeatInterval.Std(); got != 100*time.Millisecond {
		t.Errorf("heartbeat %v", got)
	}
	if got := c.Etcd.ElectionTimeout.Std(); got != 500*time.Millisecond {
		t.Errorf("election %v", got)
	}
	if c.Etcd.SnapshotCount != 5000 || c.PKI.KeyAlgorithm != KeyRSA || c.PKI.KeySize != 2048 || c.PKI.Expiry.Std() != 87600*time.Hour {
		t.Errorf("tuning/pki %+v %+v", c.Etcd, c.PKI)
	}
	want := []string{"192.168.2.51", "192.168.2.52", "192.168.2.53"}
	for i, m := range c.Members {
		if m.IPs[0] != want[i] {
			t.Errorf("member %d ip %s", i, m.IPs[0])
		}
	}
}

func TestDefaultsAreEtcds(t *testing.T) {
	c, _, err := ParseCluster("c.yaml", []byte(validHeader+threeMembers))
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "demo" || c.Discovery.Mode != DiscoveryStatic || c.PKI.KeyAlgorithm != KeyECDSA || c.PKI.KeySize != 256 {
		t.Errorf("defaults: %+v", c)
	}
	if c.Etcd.HeartbeatInterval != 0 || c.Etcd.EffectiveHeartbeat() != 100*time.Millisecond || c.Etcd.EffectiveElectionTimeout() != time.Second {
		t.Errorf("tuning defaults must be left to etcd: %+v", c.Etcd)
	}
}

// TestValidationMessages asserts the exact file:line:col message of every check.
func TestValidationMessages(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"unknown key with suggestion", validHeader + "etcd:\n  heartbeatIntervall: 100ms\n" + threeMembers,
			[]string{`c.yaml:4:3: etcd.heartbeatIntervall: unknown key (did you mean "heartbeatInterval"?); valid keys here: autoCompactionMode, autoCompactionRetention, clientPort, configFormat, dataDir, electionTimeout, heartbeatInterval, metricsPort, peerPort, quotaBackendBytes, snapshotCount, version`}},
		{"election below 5x heartbeat", validHeader + "etcd:\n  heartbeatInterval: 100ms\n  electionTimeout: 400ms\n" + threeMembers,
			[]string{`c.yaml:5:20: etcd.electionTimeout: 400ms is less than 5 x heartbeatInterval (100ms); etcd refuses that, use at least 500ms`}},
		{"duplicate name and ip", validHeader + "members:\n  - name: a\n    ips: [10.0.0.1]\n  - name: a\n    ips: [10.0.0.1]\n  - name: c\n    ips: [10.0.0.3]\n",
			[]string{
				`c.yaml:6:11: members[1].name: "a" is also the name of members[0]; names must be unique`,
				`c.yaml:7:11: members[1].ips[0]: 10.0.0.1 is also an address of members[0]; addresses must be unique`,
			}},
		{"even member count warns", validHeader + "members:\n  - name: a\n    ips: [10.0.0.1]\n  - name: b\n    ips: [10.0.0.2]\n",
			[]string{`c.yaml:3:1: warning: members: cluster size 2 is even: it tolerates no more failures than 1 members; use an odd size`}},
		{"bad cidr", validHeader + threeMembers + "firewall:\n  clientCIDRs: [10.0.0.0/33]\n",
			[]string{`c.yaml:11:17: firewall.clientCIDRs[0]: "10.0.0.0/33" is not a CIDR; write e.g. 10.0.0.0/16`}},
		{"cluster too large", validHeader + "autoscaling:\n  size: 11\n  subnets: [10.0.0.0/24]\n  domain: e.example\n  seeds: [10.0.0.5]\n",
			[]string{`c.yaml:4:9: autoscaling.size: cluster size 11 is outside 1..9; etcd clusters have 1, 3, 5 or 7 members`}},
		{"no members", validHeader,
			[]string{`c.yaml:1:1: members: is empty; list the members (name and ips) or add an autoscaling section`}},
		{"wrong type", validHeader + "etcd:\n  snapshotCount: lots\n" + threeMembers,
			[]string{`c.yaml:4:18: etcd.snapshotCount: want a whole number of at least 0, got "lots"`}},
		{"bad duration", validHeader + "etcd:\n  electionTimeout: soon\n" + threeMembers,
			[]string{`c.yaml:4:20: etcd.electionTimeout: "soon" is not a duration; write e.g. 100ms, 87600h or 3650d`}},
		{"bad ip and mac", validHeader + "members:\n  - name: a\n    ips: [10.0.0.300]\n    mac: zz\n",
			[]string{
				`c.yaml:5:11: members[0].ips[0]: "10.0.0.300" is not an IP address`,
				`c.yaml:6:10: members[0].mac: "zz" is not a MAC address; write e.g. 52:54:00:aa:bb:01`,
			}},
		{"dns mode without domain", validHeader + "discovery:\n  mode: dns\n" + threeMembers,
			[]string{`c.yaml:3:1: discovery.dns.domain: is missing; dns discovery needs the SRV domain, e.g. etcd.example.internal`}},
		{"etcd discovery on 3.5", validHeader + "etcd:\n  version: 3.5.17\ndiscovery:\n  mode: etcd\n  etcd:\n    endpoints: [https://10.0.0.9:2379]\n" + threeMembers,
			[]string{`c.yaml:6:9: discovery.mode: etcd v3 discovery needs etcd 3.6 or later (etcd.version is 3.5.17); use dns or static discovery, or upgrade`}},
		{"members and autoscaling", validHeader + threeMembers + "autoscaling:\n  size: 3\n  subnets: [10.0.0.0/24]\n  domain: e.example\n",
			[]string{`c.yaml:10:1: autoscaling: is set together with members; list members when you know them, or describe an autoscaling group, not both`}},
		{"rsa key size", validHeader + threeMembers + "pki:\n  keyAlgorithm: rsa\n  keySize: 1024\n",
			[]string{`c.yaml:12:12: pki.keySize: 1024 is not an RSA key size; use 2048, 3072 or 4096`}},
		{"key twice", validHeader + "name: again\n" + threeMembers,
			[]string{`c.yaml:3:1: name: key written twice; keep one`}},
		{"syntax error", "name: [unclosed\n",
			[]string{`c.yaml:1:1: not valid YAML: did not find expected ',' or ']'; fix the syntax`}},
		{"empty file", "",
			[]string{`c.yaml: the file is empty; write a YAML mapping (see examples/)`}},
		{"dns fqdn must start with the name", validHeader + "discovery: {mode: dns, dns: {domain: e.example, nameserver: 10.0.0.2}}\nmembers:\n  - {name: a, ips: [10.0.0.1], fqdn: b.e.example}\n",
			[]string{`c.yaml:5:38: members[0].fqdn: "b.e.example" must start with the member name (a.) in dns discovery: members are named after their SRV target`}},
		{"backup interval too short", validHeader + threeMembers + "backup:\n  interval: 10s\n",
			[]string{`c.yaml:11:13: backup.interval: 10s is shorter than 1m0s; every round streams the whole database out of the leader, use e.g. 1h`}},
		{"backup interval not whole seconds", validHeader + threeMembers + "backup:\n  interval: 90500ms\n",
			[]string{`c.yaml:11:13: backup.interval: 1m30.5s is not a whole number of seconds; systemd timers count in seconds, write e.g. 90s`}},
		{"backup retention negative", validHeader + threeMembers + "backup:\n  retention: -2\n",
			[]string{`c.yaml:11:14: backup.retention: -2 keeps no snapshot; keep at least 1, e.g. retention: 24`}},
		{"backup dir relative", validHeader + threeMembers + "backup:\n  dir: backups\n",
			[]string{`c.yaml:11:8: backup.dir: "backups" is not an absolute path; write e.g. /var/backups/etcd`}},
		{"backup dir inside the data dir", validHeader + threeMembers + "backup:\n  dir: /var/lib/etcd/backups\n",
			[]string{`c.yaml:11:8: backup.dir: /var/lib/etcd/backups is inside etcd.dataDir (/var/lib/etcd), which a restore or rejoin moves aside with the member; put backups elsewhere, e.g. /var/backups/etcd`}},
		{"backup writer not a member", validHeader + threeMembers + "backup:\n  writer: etcd9\n",
			[]string{`c.yaml:11:11: backup.writer: "etcd9" is not a member; write leader (whichever member leads at the time) or one of: etcd1, etcd2, etcd3`}},
		{"backup writer in an autoscaling group", validHeader + "autoscaling:\n  size: 3\n  subnets: [10.0.0.0/24]\n  domain: e.example\n  seeds: [10.0.0.5]\nbackup: {writer: etcd-10-0-0-5}\n",
			[]string{`c.yaml:8:18: backup.writer: "etcd-10-0-0-5" names a member, but an autoscaling group's members are named after their addresses on boot; use writer: leader`}},
		{"backup upload not absolute", validHeader + threeMembers + "backup:\n  upload: [rclone, copy]\n",
			[]string{`c.yaml:11:12: backup.upload[0]: "rclone" is not an absolute path; the command runs without a shell or PATH search, write e.g. /usr/local/bin/upload-snapshot`}},
		{"backup unknown key", validHeader + threeMembers + "backup:\n  keep: 3\n",
			[]string{`c.yaml:11:3: backup.keep: unknown key; valid keys here: dir, interval, maxAge, retention, target, testRestore, upload, uploadTimeout, writer`}},
		{"recovery auto without a target", validHeader + threeMembers + "recovery:\n  fromBackup: auto\n",
			[]string{`c.yaml:11:15: recovery.fromBackup: auto needs backups in an object store to recover from: set backup.target (e.g. s3://bucket/prefix), or write never`}},
		{"recovery mode unknown", validHeader + threeMembers + "recovery:\n  fromBackup: always\n",
			[]string{`c.yaml:11:15: recovery.fromBackup: "always" is not a recovery mode; write auto (form from the newest verified backup after a total loss) or never`}},
		{"backup maxAge shorter than the interval", validHeader + threeMembers + "backup:\n  interval: 1h\n  maxAge: 30m\n",
			[]string{`c.yaml:12:11: backup.maxAge: 30m0s is shorter than backup.interval (1h0m0s): every backup would expire before the next is taken; write e.g. 168h, or leave it out for no age limit`}},
		{"backup target unknown scheme", validHeader + threeMembers + "backup:\n  target: ftp://host/etcd\n",
			[]string{`c.yaml:11:11: backup.target: "ftp://host/etcd": scheme "ftp" is not an object store etcdboot writes to; use one of s3, gs, azblob, file, e.g. s3://my-bucket/etcd?region=eu-west-1`}},
		{"backup target without bucket", validHeader + threeMembers + "backup:\n  target: s3:///etcd\n",
			[]string{`c.yaml:11:11: backup.target: "s3:///etcd" names no bucket; write s3://BUCKET/PREFIX`}},
		{"backup target relative file", validHeader + threeMembers + "backup:\n  target: file://backups\n",
			[]string{`c.yaml:11:11: backup.target: "file://backups": a file target is an absolute path with three slashes, e.g. file:///var/backups/etcd`}},
		{"backup target with a secret", validHeader + threeMembers + "backup:\n  target: s3://b/p?region=x&secret_key=abc\n",
			[]string{`c.yaml:11:11: backup.target: "s3://b/p?region=x&secret_key=abc" has the query parameter "secret_key", which looks like a credential; payloads must not carry secrets: use the cloud's credential chain`}},
		{"metadata address not an address", validHeader + threeMembers + "firewall:\n  metadataAccess:\n    addresses: [169.254.169.254/32, metadata.google.internal]\n",
			[]string{
				`c.yaml:12:17: firewall.metadataAccess.addresses[0]: "169.254.169.254/32" is a CIDR; list the metadata service's single addresses, e.g. 169.254.169.254`,
				`c.yaml:12:37: firewall.metadataAccess.addresses[1]: "metadata.google.internal" is not an IP address; write the metadata service's address, e.g. 169.254.169.254`,
			}},
		{"metadata address with zone, mapped or loopback", validHeader + threeMembers + "firewall:\n  metadataAccess:\n    addresses: [\"fe80::a9fe:a9fe%eth0\", \"::ffff:169.254.169.254\", 127.0.0.1]\n",
			[]string{
				`c.yaml:12:17: firewall.metadataAccess.addresses[0]: "fe80::a9fe:a9fe%eth0" has a zone; packets carry none, write fe80::a9fe:a9fe`,
				`c.yaml:12:41: firewall.metadataAccess.addresses[1]: ::ffff:169.254.169.254 is an IPv4-mapped IPv6 address; write it as 169.254.169.254`,
				`c.yaml:12:67: firewall.metadataAccess.addresses[2]: 127.0.0.1 is a loopback address, not the metadata service's: keeping it root's would cut every local user off it; give the service's unicast address, e.g. 169.254.169.254`,
			}},
		{"metadata address twice warns", validHeader + threeMembers + "firewall:\n  metadataAccess: {addresses: [169.254.169.254, fd00:ec2::254, 169.254.169.254]}\n",
			[]string{`c.yaml:11:64: warning: firewall.metadataAccess.addresses[2]: 169.254.169.254 is also addresses[0]; list it once`}},
		{"metadata addresses unused when not root only", validHeader + threeMembers + "firewall:\n  metadataAccess: {rootOnly: false, addresses: [169.254.169.254]}\n",
			[]string{`c.yaml:11:37: warning: firewall.metadataAccess.addresses: are not used: rootOnly is false, so every local user may reach the metadata service; remove them, or set rootOnly: true`}},
		{"metadata root only with the firewall off", validHeader + threeMembers + "firewall:\n  enabled: false\n  metadataAccess: {addresses: [169.254.169.254]}\n",
			[]string{`c.yaml:12:3: firewall.metadataAccess: keeps the metadata service root's with the firewall's nftables table, but firewall.enabled is false, so nothing would; remove enabled: false, or write metadataAccess: {rootOnly: false} to let every local user reach it`}},
		{"metadata rootOnly misspelt", validHeader + threeMembers + "firewall:\n  metadataAccess:\n    rootonly: false\n",
			[]string{`c.yaml:12:5: firewall.metadataAccess.rootonly: unknown key (did you mean "rootOnly"?); valid keys here: addresses, rootOnly`}},
		{"metadata rootOnly not a boolean", validHeader + threeMembers + "firewall:\n  metadataAccess: {rootOnly: maybe}\n",
			[]string{`c.yaml:11:30: firewall.metadataAccess.rootOnly: want a boolean (true or false), got "maybe"`}},
		{"tls min version not etcd's spelling", validHeader + threeMembers + "tls:\n  minVersion: 1.2\n",
			[]string{`c.yaml:11:15: tls.minVersion: "1.2" is not a minimum TLS version; use TLS1.3 (the default) or TLS1.2 (for clients without TLS 1.3, such as iPXE), spelt as etcd's --tls-min-version`}},
		{"tls min version broken", validHeader + threeMembers + "tls: {minVersion: TLS1.0}\n",
			[]string{`c.yaml:10:19: tls.minVersion: "TLS1.0": TLS 1.0 and 1.1 are broken and etcd does not offer them; use TLS1.3 (the default) or TLS1.2`}},
		{"tls unknown key", validHeader + threeMembers + "tls:\n  minversion: TLS1.2\n",
			[]string{`c.yaml:11:3: tls.minversion: unknown key (did you mean "minVersion"?); valid keys here: minVersion`}},
		{"etcd 3.5 without tls-min-version", validHeader + "etcd:\n  version: 3.5.7\n" + threeMembers,
			[]string{`c.yaml:4:12: etcd.version: etcd 3.5.7 has no --tls-min-version (3.5.8 added it), which etcdboot sets on every listener; use 3.5.8 or later`}},
		{"seed outside subnet", validHeader + "autoscaling:\n  size: 3\n  subnets: [10.0.0.0/24]\n  domain: e.example\n  seeds: [10.9.0.1]\n",
			[]string{`c.yaml:7:11: autoscaling.seeds[0]: 10.9.0.1 is outside autoscaling.subnets; seeds must be member addresses`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rep, err := ParseCluster("c.yaml", []byte(tt.in))
			got := make([]string, len(rep.Problems))
			for i, p := range rep.Problems {
				got[i] = p.String()
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n got: %q\nwant: %q", got, tt.want)
			}
			hasErr := false
			for _, p := range rep.Problems {
				hasErr = hasErr || !p.Warning
			}
			if hasErr != (err != nil) {
				t.Errorf("err = %v, but problems %v", err, got)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
		})
	}
}

func TestBackupDefaultsAndPayloadCopy(t *testing.T) {
	c, _, err := ParseCluster("c.yaml", []byte(validHeader+threeMembers+"backup:\n  testRestore: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Backup{Interval: Duration(time.Hour), Retention: 24, Dir: "/var/backups/etcd", Writer: WriterLeader,
		UploadTimeout: Duration(15 * time.Minute), TestRestore: true}
	if c.Backup == nil || !reflect.DeepEqual(*c.Backup, want) {
		t.Fatalf("backup defaults: %+v, want %+v", c.Backup, want)
	}
	c, _, err = ParseCluster("c.yaml", []byte(validHeader+threeMembers))
	if err != nil || c.Backup != nil {
		t.Fatalf("no backup section must stay nil: %+v %v", c.Backup, err)
	}
	c, _, err = ParseCluster("c.yaml", []byte(validHeader+threeMembers+
		"backup: {interval: 30m, retention: 3, dir: /srv/etcd-backups, writer: etcd2, upload: [/usr/local/bin/up, --bucket, b]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Backup.Interval.Std() != 30*time.Minute || c.Backup.Retention != 3 || c.Backup.Writer != "etcd2" || len(c.Backup.Upload) != 3 {
		t.Errorf("backup: %+v", c.Backup)
	}
}

func TestNodePayloadBackupValidation(t *testing.T) {
	payload := `apiVersion: etcdboot/v1
cluster: demo
token: demo-1
node: {name: etcd1, ips: [10.0.0.1]}
members: [{name: etcd1, ips: [10.0.0.1]}]
etcd: {version: 3.6.16, dataDir: /var/lib/etcd, configFormat: yaml, clientPort: 2379, peerPort: 2380, metricsPort: 2381}
discovery: {mode: static}
tls: {caFile: /p/ca.crt, serverCertFile: /p/s.crt, serverKeyFile: /p/s.key, peerCertFile: /p/p.crt, peerKeyFile: /p/p.key}
`
	p, err := ParseNodePayload("node.yaml", []byte(payload+"backup: {interval: 1h, retention: 2, dir: /b, testRestore: true}\n"))
	if err != nil || p.Backup == nil || p.Backup.Retention != 2 || !p.Backup.TestRestore {
		t.Fatalf("payload with backup: %+v %v", p, err)
	}
	// A hand-written section may leave fields out: they take the defaults.
	if _, err := ParseNodePayload("node.yaml", []byte(payload+"backup: {}\n")); err != nil {
		t.Fatalf("empty backup section: %v", err)
	}
	_, err = ParseNodePayload("node.yaml", []byte(payload+"backup: {dir: /b, writer: etcd7}\n"))
	if err == nil || !strings.Contains(err.Error(), `node.yaml:9:27: backup.writer: "etcd7" is not a member`) {
		t.Fatalf("want a positioned writer error, got %v", err)
	}
}

func TestEveryProblemReportedAtOnce(t *testing.T) {
	in := "apiVersion: etcdboot/v1\nname: BAD_NAME\nbogus: 1\netcd:\n  clientPort: 99999\nmembers:\n  - name: x\n    ips: [nope]\n"
	_, rep, err := ParseCluster("c.yaml", []byte(in))
	if err == nil {
		t.Fatal("want an error")
	}
	// The unknown key stops decoding-level checks; fix it and the rest show.
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0].String(), "bogus: unknown key") {
		t.Fatalf("want the unknown key first: %s", rep)
	}
	in = strings.Replace(in, "bogus: 1\n", "", 1)
	_, rep, _ = ParseCluster("c.yaml", []byte(in))
	if len(rep.Problems) != 3 {
		t.Fatalf("want 3 problems at once, got:\n%s", rep)
	}
}

func TestNodePayloadValidation(t *testing.T) {
	good := `apiVersion: etcdboot/v1
cluster: demo
token: demo-1
node: {name: etcd1, ips: [10.0.0.1]}
members: [{name: etcd1, ips: [10.0.0.1]}]
etcd: {version: 3.6.16, dataDir: /var/lib/etcd, configFormat: yaml, clientPort: 2379, peerPort: 2380, metricsPort: 2381}
discovery: {mode: static}
tls: {caFile: /p/ca.crt, serverCertFile: /p/s.crt, serverKeyFile: /p/s.key, peerCertFile: /p/p.crt, peerKeyFile: /p/p.key}
`
	if _, err := ParseNodePayload("node.yaml", []byte(good)); err != nil {
		t.Fatalf("good payload: %v", err)
	}
	bad := strings.Replace(good, "caFile: /p/ca.crt", "caFile: ca.crt", 1)
	_, err := ParseNodePayload("node.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), `node.yaml:8:15: tls.caFile: "ca.crt" is not an absolute path`) {
		t.Fatalf("want positioned tls.caFile error, got %v", err)
	}
	if _, err := ParseNodePayload("node.yaml", []byte(good[:60])); err == nil {
		t.Fatal("truncated payload must fail")
	}
}

func TestUnits(t *testing.T) {
	for in, want := range map[string]int64{"8GiB": 8 << 30, "512MiB": 512 << 20, "100": 100, "2GB": 2e9} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if d, err := ParseDuration("3650d"); err != nil || d != 87600*time.Hour {
		t.Errorf("3650d = %v %v", d, err)
	}
	for _, bad := range []string{"-1s", "1x", "d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	if Duration(87600*time.Hour).String() != "87600h" || Duration(500*time.Millisecond).String() != "500ms" {
		t.Error("Duration.String")
	}
}

func TestAliasBombIsAnError(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, _, err := ParseCluster("bomb.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("alias bomb accepted")
	}
}

func FuzzParseCluster(f *testing.F) {
	files, _ := filepath.Glob("../examples/*/cluster.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(validHeader + threeMembers))
	f.Add([]byte(validHeader + threeMembers + "backup:\n  interval: 1h\n  retention: 24\n  dir: /var/backups/etcd\n  writer: etcd2\n  upload: [/usr/local/bin/up, x]\n  uploadTimeout: 5m\n  testRestore: true\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, rep, err := ParseCluster("fuzz.yaml", data)
		if err == nil && c == nil {
			t.Fatal("nil cluster without error")
		}
		if err != nil && !rep.HasErrors() {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without a report: %v", err)
			}
		}
		for _, p := range rep.Problems {
			if p.File != "fuzz.yaml" {
				t.Fatalf("problem without the file name: %v", p)
			}
		}
	})
}

func FuzzParseNodePayload(f *testing.F) {
	f.Add([]byte("apiVersion: etcdboot/v1\ncluster: a\n"))
	f.Add([]byte("apiVersion: etcdboot/v1\ncluster: a\nbackup: {interval: 1h, retention: 3, dir: /b, writer: leader, upload: [/bin/true], testRestore: true}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseNodePayload("node.yaml", data)
		if err == nil && p == nil {
			t.Fatal("nil payload without error")
		}
	})
}

func TestMetadataAccessDefaultsAndOverrides(t *testing.T) {
	v4, v6 := netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")
	tests := []struct {
		name     string
		firewall string
		want     *MetadataAccess // after ApplyDefaults
		addrs    []netip.Addr    // RootOnlyMetadataAddrs
	}{
		{"on by default", "", &MetadataAccess{RootOnly: ptrTo(true), Addresses: []string{"169.254.169.254", "fd00:ec2::254"}}, []netip.Addr{v4, v6}},
		{"a list replaces the default", "firewall:\n  metadataAccess:\n    addresses: [100.100.100.200]\n",
			&MetadataAccess{RootOnly: ptrTo(true), Addresses: []string{"100.100.100.200"}}, []netip.Addr{netip.MustParseAddr("100.100.100.200")}},
		{"an empty list is the default", "firewall:\n  metadataAccess: {rootOnly: true, addresses: []}\n",
			&MetadataAccess{RootOnly: ptrTo(true), Addresses: []string{"169.254.169.254", "fd00:ec2::254"}}, []netip.Addr{v4, v6}},
		{"turned off", "firewall:\n  metadataAccess: {rootOnly: false}\n", &MetadataAccess{RootOnly: ptrTo(false)}, nil},
		{"firewall off", "firewall: {enabled: false}\n", nil, nil},
		{"firewall off and metadata open", "firewall: {enabled: false, metadataAccess: {rootOnly: false}}\n", &MetadataAccess{RootOnly: ptrTo(false)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rep, err := ParseCluster("c.yaml", []byte(validHeader+threeMembers+tt.firewall))
			if err != nil || len(rep.Problems) > 0 {
				t.Fatalf("ParseCluster: %v\n%s", err, rep)
			}
			if !reflect.DeepEqual(c.Firewall.MetadataAccess, tt.want) {
				t.Errorf("MetadataAccess = %s, want %s", describeMetadata(c.Firewall.MetadataAccess), describeMetadata(tt.want))
			}
			if got := c.Firewall.MetadataRootOnly(); got != (tt.addrs != nil) {
				t.Errorf("MetadataRootOnly() = %v", got)
			}
			addrs, err := c.Firewall.RootOnlyMetadataAddrs()
			if err != nil || !reflect.DeepEqual(addrs, tt.addrs) {
				t.Errorf("RootOnlyMetadataAddrs() = %v, %v; want %v", addrs, err, tt.addrs)
			}
		})
	}
}

// TestNodePayloadMetadataAccess: the payload carries the section as the
// generator wrote it, and one without it (generated before it existed)
// keeps the metadata service root's with the default addresses.
func TestNodePayloadMetadataAccess(t *testing.T) {
	payload := `apiVersion: etcdboot/v1
cluster: demo
token: demo-1
node: {name: etcd1, ips: [10.0.0.1]}
members: [{name: etcd1, ips: [10.0.0.1]}]
etcd: {version: 3.6.16, dataDir: /var/lib/etcd, configFormat: yaml, clientPort: 2379, peerPort: 2380, metricsPort: 2381}
discovery: {mode: static}
tls: {caFile: /p/ca.crt, serverCertFile: /p/s.crt, serverKeyFile: /p/s.key, peerCertFile: /p/p.crt, peerKeyFile: /p/p.key}
`
	v4, v6 := netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254")
	for _, tt := range []struct {
		name, firewall string
		want           []netip.Addr
	}{
		{"no firewall section", "", []netip.Addr{v4, v6}},
		{"generated", "firewall:\n  metadataAccess:\n    rootOnly: true\n    addresses:\n      - 169.254.169.254\n      - fd00:ec2::254\n", []netip.Addr{v4, v6}},
		{"own list", "firewall: {metadataAccess: {rootOnly: true, addresses: [fd00:ec2::254]}}\n", []netip.Addr{v6}},
		{"turned off", "firewall: {metadataAccess: {rootOnly: false}}\n", nil},
		{"firewall off", "firewall: {enabled: false}\n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseNodePayload("node.yaml", []byte(payload+tt.firewall))
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Firewall.RootOnlyMetadataAddrs()
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RootOnlyMetadataAddrs() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
	_, err := ParseNodePayload("node.yaml", []byte(payload+"firewall: {metadataAccess: {addresses: [169.254.169.254, imds]}}\n"))
	if err == nil || !strings.Contains(err.Error(), `node.yaml:9:58: firewall.metadataAccess.addresses[1]: "imds" is not an IP address`) {
		t.Fatalf("want a positioned metadata address error, got %v", err)
	}
}

func ptrTo[T any](v T) *T { return &v }

func describeMetadata(m *MetadataAccess) string {
	if m == nil {
		return "nil"
	}
	root := "nil"
	if m.RootOnly != nil {
		root = strconv.FormatBool(*m.RootOnly)
	}
	return fmt.Sprintf("{RootOnly: %s, Addresses: %q}", root, m.Addresses)
}
