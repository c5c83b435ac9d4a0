package audit

import (
	"testing"
)

func TestParseEnvReadsWhatSystemdPassesOn(t *testing.T) {
	s, err := ParseEnv([]byte("# comment\n\n ETCD_NAME = etcd1 \nETCD_CERT_FILE='/p/a b.crt'\nOTHER=x\nETCD_NAME=etcd2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get("name"); v != "etcd2" {
		t.Errorf("name = %q, want the last assignment", v)
	}
	if v, _ := s.Get("cert-file"); v != "/p/a b.crt" {
		t.Errorf("cert-file = %q", v)
	}
	if _, ok := s.Get("other"); ok {
		t.Error("a variable etcd does not read became a setting")
	}
	if _, err := ParseEnv([]byte("ETCD_NAME\n")); err == nil {
		t.Error("a line without = parsed")
	}
}

// FuzzParseEnv checks that no file makes the parser or the audit panic, and
// that every audit answers every settings item.
func FuzzParseEnv(f *testing.F) {
	f.Add(renderedConfig().Env())
	f.Add([]byte("ETCD_CLIENT_CERT_AUTH=\"true\nETCD_AUTO_TLS='1'\n"))
	f.Add([]byte("ETCD_CONFIG_FILE=/etc/etcd/etcd.yaml\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got := AuditEnv(data); len(got) != len(SettingItems) {
			t.Fatalf("%d findings", len(got))
		}
	})
}
