package ignition

import (
	"crypto/rand"
	"encoding/pem"
	"errors"
	"regexp"
	"strconv"
	"testing"
)

func TestFiveMemberRSABundleFitsUserData(t *testing.T) {
	b := rsaFiveMemberBundle(t)
	total := 0
	for _, f := range b.Files {
		total += len(f.Contents)
	}
	t.Logf("certificates and keys: %d bytes", total)
	for _, variant := range variants {
		ign, err := RenderIgnition(b, variant)
		if err != nil {
			t.Fatalf("RenderIgnition(%s): %v", variant, err)
		}
		if len(ign) > MaxUserData {
			t.Errorf("Ignition (%s) is %d bytes, over %d", variant, len(ign), MaxUserData)
		}
		t.Logf("Ignition (%s): %d bytes", variant, len(ign))
	}
	ud, err := RenderCloudInit(b)
	if err != nil {
		t.Fatalf("RenderCloudInit: %v", err)
	}
	if len(ud) > MaxUserData {
		t.Errorf("cloud-init user-data is %d bytes, over %d", len(ud), MaxUserData)
	}
	t.Logf("cloud-init: %d bytes", len(ud))
}

func TestOversizeBundleIsErrTooLarge(t *testing.T) {
	b := rsaFiveMemberBundle(t)
	// 16 KiB of random bytes as a PEM block: incompressible, like key
	// material, and together with the real files well over the limit.
	noise := make([]byte, 16<<10)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	b.Files = append(append([]File(nil), b.Files...), File{
		Path:     "/etc/etcdboot/pki/bundle.crt",
		Contents: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: noise}),
	})
	sizeRE := regexp.MustCompile(`node "etcd1" is (\d+) bytes, \d+ over the 16384-byte user-data limit: .*use ecdsa keys`)
	render := map[string]func() ([]byte, error){
		"ignition-fcos":    func() ([]byte, error) { return RenderIgnition(b, VariantFCOS) },
		"ignition-flatcar": func() ([]byte, error) { return RenderIgnition(b, VariantFlatcar) },
		"cloud-init":       func() ([]byte, error) { return RenderCloudInit(b) },
	}
	for name, f := range render {
		out, err := f()
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: err = %v (output %d bytes), want ErrTooLarge", name, err, len(out))
			continue
		}
		m := sizeRE.FindStringSubmatch(err.Error())
		if m == nil {
			t.Errorf("%s: message %q does not name the node, size, limit and remedy", name, err)
			continue
		}
		if size, _ := strconv.Atoi(m[1]); size <= MaxUserData {
			t.Errorf("%s: reported size %d is not over the limit", name, size)
		}
		t.Log(err)
	}
	// Butane is not user-data: it has no limit.
	if _, err := RenderButane(b, VariantFCOS); err != nil {
		t.Errorf("RenderButane: %v", err)
	}
}
