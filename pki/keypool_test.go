package pki

import (
	"net"
	"testing"
	"time"
)

// TestKeyPoolSuppliesEnsuredCertificates checks that a Dir with a KeyPool
// issues with the pool's keys (each once) and falls back to making a key
// when the pool has none of the requested type.
func TestKeyPoolSuppliesEnsuredCertificates(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	names := []string{"ca", "etcd1-server", "etcd1-peer"}
	if n := d.NewKeysNeeded(false, names...); n != 3 {
		t.Fatalf("NewKeysNeeded = %d in an empty dir, want 3", n)
	}
	d.Keys = NewKeyPool(ecdsa256, 3)
	defer d.Keys.Close()
	ca, err := d.EnsureCA("etcd", ecdsa256, time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	server, peer := MemberRequests("etcd1", "etcd1.example.internal", []net.IP{net.ParseIP("10.0.0.1")}, nil, ecdsa256, time.Hour)
	kps := make([]KeyPair, 0, 3)
	for _, r := range []struct {
		name string
		req  Request
	}{{"etcd1-server", server}, {"etcd1-peer", peer}} {
		kp, err := d.EnsureCert(ca, r.name, r.req, false)
		if err != nil {
			t.Fatal(err)
		}
		kps = append(kps, kp)
	}
	if d.Keys.left != 0 {
		t.Errorf("%d pooled keys left, want all 3 taken", d.Keys.left)
	}
	if string(kps[0].KeyPEM) == string(kps[1].KeyPEM) || string(kps[0].KeyPEM) == string(ca.KeyPEM()) {
		t.Error("a pooled key was handed out twice")
	}
	rsaReq, _ := MemberRequests("etcd2", "etcd2.example.internal", []net.IP{net.ParseIP("10.0.0.2")}, nil, rsa2048, time.Hour)
	if _, err := d.EnsureCert(ca, "etcd2-server", rsaReq, false); err != nil {
		t.Fatalf("a key type the pool lacks: %v", err)
	}
	if n := d.NewKeysNeeded(false, names...); n != 0 {
		t.Errorf("NewKeysNeeded = %d after issuing, want 0", n)
	}
	if n := d.NewKeysNeeded(true, names...); n != 3 {
		t.Errorf("NewKeysNeeded(rotate) = %d, want 3", n)
	}
}
