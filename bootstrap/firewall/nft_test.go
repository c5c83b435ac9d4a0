package firewall

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goldenPolicies are rendered to testdata/<name>.nft.
func goldenPolicies() map[string]Policy {
	custom := Policy{
		Table:            "etcd_test",
		ClientPort:       12379,
		PeerPort:         12380,
		MetricsPort:      12381,
		AgentMetricsPort: 12382,
		Peers:            addrs("fd00:123:250::2", "fd00:123:250::1"),
		ClientCIDRs:      prefixes("10.123.1.0/24", "::/0", "10.123.0.0/24"),
		MonitoringCIDRs:  prefixes("255.255.255.0/24"),
		MetadataAddrs:    addrs("fd00:ec2::254"),
	}
	// The same as the default but with the metadata service open to all.
	openMetadata := DefaultPolicy()
	openMetadata.MetadataAddrs = nil
	// The members reset on the peer port while a new member bootstraps.
	held := representativePolicy()
	held.HoldPeers = true
	return map[string]Policy{
		"held-peers":     held,
		"representative": representativePolicy(),
		"default":        DefaultPolicy(),
		"custom":         custom,
		"open-metadata":  openMetadata,
	}
}

func TestNFTMatchesGolden(t *testing.T) {
	for name, p := range goldenPolicies() {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name+".nft")
			got := p.NFT()
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./firewall/ -run TestNFTMatchesGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("NFT() differs from %s (rerun with -update if intended):\n%s", path, got)
			}
			table := p.Canonical().Table
			if prefix := "table inet " + table + "\ndelete table inet " + table + "\n"; !strings.HasPrefix(got, prefix) {
				t.Errorf("NFT() does not begin with %q", prefix)
			}
		})
	}
}

// TestGoldenFilesPassNftCheck runs the real `nft -c -f` (check mode: parsed
// and validated by the kernel, never committed) on every golden file.
func TestGoldenFilesPassNftCheck(t *testing.T) {
	requireRoot(t)
	files, err := filepath.Glob(filepath.Join("testdata", "*.nft"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		if out, err := exec.Command("nft", "-c", "-f", f).CombinedOutput(); err != nil {
			t.Errorf("nft -c -f %s: %v\n%s", f, err, out)
		}
	}
}

func TestNFTIgnoresInputOrder(t *testing.T) {
	a := representativePolicy()
	b := representativePolicy()
	for i, j := 0, len(b.Peers)-1; i < j; i, j = i+1, j-1 {
		b.Peers[i], b.Peers[j] = b.Peers[j], b.Peers[i]
	}
	b.ClientCIDRs = append(b.ClientCIDRs[2:], b.ClientCIDRs[:2]...)
	if a.NFT() != b.NFT() {
		t.Errorf("NFT() depends on input order:\n%s\n---\n%s", a.NFT(), b.NFT())
	}
}

// TestNFTOutputChainOnlyWithMetadataAddrs: no metadata addresses, no output
// chain; otherwise one after the input chain.
func TestNFTOutputChainOnlyWithMetadataAddrs(t *testing.T) {
	p := DefaultPolicy()
	p.MetadataAddrs = nil
	if got := p.NFT(); strings.Contains(got, "chain output") || strings.Contains(got, "skuid") {
		t.Errorf("NFT() without metadata addresses has an output chain:\n%s", got)
	}
	got := DefaultPolicy().NFT()
	want := "\tchain output {\n" +
		"\t\ttype filter hook output priority 0; policy accept;\n" +
		"\t\tip daddr 169.254.169.254 meta skuid != 0 reject with icmpx admin-prohibited\n" +
		"\t\tip6 daddr fd00:ec2::254 meta skuid != 0 reject with icmpx admin-prohibited\n" +
		"\t}\n}\n"
	if !strings.HasSuffix(got, want) {
		t.Errorf("NFT() does not end with the output chain\n%s\ngot:\n%s", want, got)
	}
	if i, j := strings.Index(got, "chain input"), strings.Index(got, "chain output"); i < 0 || j < i {
		t.Errorf("want chain input before chain output:\n%s", got)
	}
}
