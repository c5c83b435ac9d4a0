package rotation

import (
	"strings"
	"testing"
	"time"
)

func TestWriteRotationShowsEachCertificateAndWhatIsLeft(t *testing.T) {
	notAfter := time.Date(2027, 12, 4, 18, 30, 0, 0, time.UTC)
	res := &RotateResult{
		Rotated: []Rotation{
			{Name: "etcd1-server", OldSerial: "1a2b", NewSerial: "3c4d", NotAfter: notAfter},
			{Name: "admin", OldSerial: "5e6f", NewSerial: "7a8b", NotAfter: notAfter},
		},
		Kept:      []string{"serve"},
		BackupDir: "out/pki/rotated-20261204T183000",
	}
	var b strings.Builder
	if err := WriteRotation(&b, res); err != nil {
		t.Fatal(err)
	}
	want := `+--------------+------------+------------+----------------------+
| CERTIFICATE  | OLD SERIAL | NEW SERIAL |      NOT AFTER       |
+--------------+------------+------------+----------------------+
| etcd1-server |       1a2b |       3c4d | 2027-12-04T18:30:00Z |
|        admin |       5e6f |       7a8b | 2027-12-04T18:30:00Z |
+--------------+------------+------------+----------------------+
2 certificates reissued with new keys under the same CA; the previous files are in out/pki/rotated-20261204T183000.
Kept as they were (not issued by etcdboot generate): serve.
`
	if got := b.String(); !strings.HasPrefix(got, want) || !strings.Contains(got, "etcdboot-agent certs install --user-data FILE") {
		t.Errorf("rotation summary:\n%s\nwant it to start with:\n%s", got, want)
	}
}
