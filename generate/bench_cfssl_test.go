package generate

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/internal/etcdtest"
)

// cfsslTool finds the cfssl CLI (cfssl, cfssljson) in $ETCDBOOT_BIN, where
// make bench builds it, or on PATH.
func cfsslTool(b *testing.B, name string) string {
	b.Helper()
	if dir := os.Getenv("ETCDBOOT_BIN"); dir != "" {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		b.Skipf("%s not found in $ETCDBOOT_BIN or PATH; make bench builds it", name)
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// cfsslScript is the manual procedure's certificate set for the
// three-node example, made with the cfssl CLI one certificate after
// another: the CA (RSA 2048, 87600h), each member's server and peer
// certificate and the three client certificates, 10 RSA-2048 keys.
const cfsslScript = `set -e
cd "$1"; cfssl=$2; cfssljson=$3
cat > ca-config.json <<'J'
{"signing":{"default":{"expiry":"87600h"},"profiles":{
 "etcd":{"expiry":"87600h","usages":["signing","key encipherment","server auth","client auth"]},
 "client":{"expiry":"87600h","usages":["signing","key encipherment","client auth"]}}}}
J
echo '{"CN":"etcd","key":{"algo":"rsa","size":2048},"ca":{"expiry":"87600h"}}' | "$cfssl" gencert -initca - 2>/dev/null | "$cfssljson" -bare ca
cert() { echo "{\"CN\":\"$1\",\"hosts\":[$3],\"key\":{\"algo\":\"rsa\",\"size\":2048}}" |
  "$cfssl" gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json -profile=$2 - 2>/dev/null | "$cfssljson" -bare "$1"; }
for i in 1 2 3; do
  cert etcd$i-server etcd "\"etcd$i\",\"192.168.2.5$i\",\"127.0.0.1\""
  cert etcd$i-peer etcd "\"etcd$i\",\"192.168.2.5$i\""
done
for c in admin healthcheck-client kube-apiserver-etcd-client; do cert $c client ""; done
`

// BenchmarkGenerateVsCfssl times a first `etcdboot generate` of the
// three-node example (the manual procedure's cluster: 10 RSA-2048 keys, and
// every payload) against the same certificate set made with the cfssl CLI,
// alternating who goes first. time-vs-cfssl is generate's time over
// cfssl's (below 1: generate is faster).
func BenchmarkGenerateVsCfssl(b *testing.B) {
	cfssl, cfssljson := cfsslTool(b, "cfssl"), cfsslTool(b, "cfssljson")
	specPath := etcdtest.ThreeNodeSpec(b)
	dir := b.TempDir()
	var ours, theirs time.Duration
	runOurs := func(i int) {
		start := time.Now()
		if _, err := Run(Options{SpecPath: specPath, OutDir: filepath.Join(dir, fmt.Sprint("ours", i))}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
	}
	runTheirs := func(i int) {
		out := filepath.Join(dir, fmt.Sprint("cfssl", i))
		if err := os.Mkdir(out, 0o700); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if msg, err := exec.Command("bash", "-c", cfsslScript, "cfssl-script", out, cfssl, cfssljson).CombinedOutput(); err != nil {
			b.Fatalf("cfssl script: %v: %s", err, msg)
		}
		theirs += time.Since(start)
		if !fileExists(filepath.Join(out, "kube-apiserver-etcd-client-key.pem")) {
			b.Fatal("the cfssl script made no kube-apiserver-etcd-client key")
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			runOurs(i)
			runTheirs(i)
		} else {
			runTheirs(i)
			runOurs(i)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "etcdboot-s")
	b.ReportMetric(theirs.Seconds()/n, "cfssl-s")
	b.ReportMetric(ours.Seconds()/theirs.Seconds(), "time-vs-cfssl")
}
