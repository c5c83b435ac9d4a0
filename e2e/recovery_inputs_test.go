package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/s3test"
)

// TestRecoveryBadInputsFailClearly: etcdboot recover after a quorum loss,
// given what goes wrong in practice: a backup whose manifest lost its
// object, a backup of another cluster, a target that does not exist, and a
// real S3 store with wrong credentials. Each fails with an error that says
// what and what to do, writes no request, and leaves the store and the
// members' data dirs as they were.
func TestRecoveryBadInputsFailClearly(t *testing.T) {
	storeDir := t.TempDir()
	target := "file://" + storeDir
	c := recoveryGroup(t, target, false)
	startHealthy(t, c)
	backupRound(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	store, err := backupstore.Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	l, err := store.List(ctx, "rec")
	if err != nil || len(l.Verified()) != 1 {
		t.Fatalf("backups: %+v, %v", l, err)
	}
	good := l.Verified()[0]
	// Another cluster's backup in the same target, and one of ours whose
	// object is gone.
	other, err := store.Put(ctx, filepath.Join(storeDir, good.Object), backupstore.Manifest{Cluster: "other", Taken: good.Taken.Add(time.Minute),
		Revision: good.Revision, TotalKeys: good.TotalKeys, Hash: good.Hash, Verified: true})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := store.Put(ctx, filepath.Join(storeDir, good.Object), backupstore.Manifest{Cluster: "rec", Taken: good.Taken.Add(2 * time.Minute),
		Revision: good.Revision, TotalKeys: good.TotalKeys, Hash: good.Hash, Verified: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(storeDir, orphan.Object)); err != nil {
		t.Fatal(err)
	}
	for _, n := range slices.Clone(c.Nodes) {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	dataBefore := map[string]string{}
	for _, n := range c.Nodes {
		dataBefore[n.Name] = treeDigest(t, n.DataDir())
	}
	storeBefore := treeDigest(t, storeDir)
	recoverWith := func(specPath string, env []string, from string) (string, error) {
		cmd := exec.Command(filepath.Join(c.Opts.Bin, "etcdboot"), "recover", "-f", specPath, "--pki", filepath.Join(c.Out, "pki"), "--from", from)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	withTarget := func(newTarget string) string {
		data, err := os.ReadFile(c.Opts.SpecPath)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "cluster.yaml")
		if err := os.WriteFile(p, []byte(strings.Replace(string(data), target, newTarget, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	srv := s3test.Start(t, s3test.Options{})
	cases := []struct {
		name, spec, from string
		env              []string
		want             []string
	}{
		{"a manifest without its object", c.Opts.SpecPath, orphan.Name, nil, []string{orphan.Name, "has a manifest but no snapshot object", "backup list"}},
		{"a backup of another cluster", c.Opts.SpecPath, other.Name, nil, []string{"is a backup of cluster \"other\", not \"rec\"", "pick one of this cluster's"}},
		{"a target that does not exist", withTarget("file://" + filepath.Join(storeDir, "missing")), "latest", nil, []string{"missing does not exist", "create it (or mount the share) or fix backup.target"}},
		{"wrong credentials", withTarget(srv.URL("etcd")), "latest", []string{"AWS_ACCESS_KEY_ID=AKIDUNKNOWN", "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey, "AWS_REGION=" + s3test.Region},
			[]string{"check the credentials"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := recoverWith(tc.spec, tc.env, tc.from)
			if err == nil {
				t.Fatalf("recover succeeded:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the error does not say %q:\n%s", w, out)
				}
			}
		})
	}
	if _, ok, err := store.ReadRecoveryRequest(ctx, "rec"); ok || err != nil {
		t.Errorf("a request was written (%v)", err)
	}
	if got := treeDigest(t, storeDir); got != storeBefore {
		t.Error("the store changed")
	}
	for _, n := range c.Nodes {
		if got := treeDigest(t, n.DataDir()); got != dataBefore[n.Name] {
			t.Errorf("%s's data dir changed", n.Name)
		}
	}
}
