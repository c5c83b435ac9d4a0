package generate

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/images"
	"github.com/etcdboot/etcdboot/spec"
)

func TestEveryPayloadCarriesTheBackupSchedule(t *testing.T) {
	dir := t.TempDir()
	specPath := filepath.Join(dir, "cluster.yaml")
	yaml := `apiVersion: etcdboot/v1
name: bk
members:
  - {name: etcd1, ips: [10.0.0.1]}
  - {name: etcd2, ips: [10.0.0.2]}
  - {name: etcd3, ips: [10.0.0.3]}
backup:
  interval: 2h
  retention: 5
  upload: [/usr/local/bin/upload, --to, s3://bucket/etcd]
  testRestore: true
`
	if err := os.WriteFile(specPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Run(Options{SpecPath: specPath, OutDir: filepath.Join(dir, "out")})
	if err != nil {
		t.Fatal(err)
	}
	want := spec.Backup{Interval: spec.Duration(2 * time.Hour), Retention: 5, Dir: spec.DefaultBackupDir, Writer: spec.WriterLeader,
		Upload: []string{"/usr/local/bin/upload", "--to", "s3://bucket/etcd"}, UploadTimeout: spec.Duration(spec.DefaultUploadTimeout), TestRestore: true}
	for _, n := range res.Nodes {
		p, err := spec.LoadNodePayload(filepath.Join(n.Dir, "node.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Backup == nil || !reflect.DeepEqual(*p.Backup, want) {
			t.Errorf("%s: node.yaml backup = %+v, want %+v", n.Name, p.Backup, want)
		}
		ud, err := os.ReadFile(filepath.Join(n.Dir, "user-data"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ud), images.BackupTimerDropInPath) || !strings.Contains(string(ud), images.BackupTimer) {
			t.Errorf("%s: user-data does not set up %s", n.Name, images.BackupTimer)
		}
	}
}
