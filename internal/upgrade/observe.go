package upgrade

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// BinaryVersion runs `etcd --version` and reads its first line,
// "etcd Version: 3.6.16".
func BinaryVersion(ctx context.Context, etcd string) (Version, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, etcd, "--version").Output()
	if err != nil {
		return Version{}, fmt.Errorf("%s --version: %w", etcd, err)
	}
	return parseVersionOutput(etcd, out)
}

func parseVersionOutput(etcd string, out []byte) (Version, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "etcd Version:"); ok {
			ver, err := ParseVersion(v)
			if err != nil {
				return Version{}, fmt.Errorf("%s --version: %w", etcd, err)
			}
			return ver, nil
		}
	}
	return Version{}, fmt.Errorf("%s --version printed no \"etcd Version:\" line: %q", etcd, out)
}

// DataVersion reads what wrote a data dir: the storage version etcd 3.6+
// keeps in its backend (bucket meta, key storageVersion), else the cluster
// version every release keeps (bucket cluster, key clusterVersion), which a
// 3.5 data dir carries. It returns the zero Version for a data dir without a
// backend, or whose cluster never decided its version (still etcd's initial
// 3.0): a new member. It opens the backend read-only; etcd must not run.
func DataVersion(dataDir string) (Version, error) {
	db := filepath.Join(dataDir, "member", "snap", "db")
	if _, err := os.Stat(db); errors.Is(err, fs.ErrNotExist) {
		return Version{}, nil
	} else if err != nil {
		return Version{}, fmt.Errorf("data dir version: %w", err)
	}
	bdb, err := bolt.Open(db, 0o400, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return Version{}, fmt.Errorf("data dir version: open %s: %w", db, err)
	}
	defer bdb.Close()
	var raw, key string
	err = bdb.View(func(tx *bolt.Tx) error {
		for _, at := range [][2]string{{"meta", "storageVersion"}, {"cluster", "clusterVersion"}} {
			if b := tx.Bucket([]byte(at[0])); b != nil {
				if v := b.Get([]byte(at[1])); len(v) > 0 {
					raw, key = string(v), at[1]
					return nil
				}
			}
		}
		return nil
	})
	if err != nil {
		return Version{}, fmt.Errorf("data dir version: read %s: %w", db, err)
	}
	if raw == "" {
		// A backend that never saw a cluster version: etcd stopped before
		// its first publish. Treat it as new data of the binary's own minor.
		return Version{}, nil
	}
	v, err := ParseVersion(raw)
	if err != nil {
		return Version{}, fmt.Errorf("data dir version in %s: %w", db, err)
	}
	if key == "clusterVersion" && v.Major == 3 && v.Minor == 0 {
		// etcd sets the cluster version to 3.0 when a cluster forms and
		// raises it once every member has published its own version: a
		// member stopped before that (its peers not all up yet) says
		// nothing about what wrote it. Treat it as new data too.
		return Version{}, nil
	}
	return v, nil
}

// ObserveCluster asks a running cluster for what Decide needs: the member
// list, each member's server version and health (its Maintenance Status),
// raised alarms, an enabled downgrade and the cluster version (the
// /version endpoint). A member that does not answer has a zero Server and
// is unhealthy.
func ObserveCluster(ctx context.Context, cli *clientv3.Client, tlsConf *tls.Config) (*Cluster, error) {
	list, err := cli.MemberList(ctx)
	if err != nil {
		return nil, fmt.Errorf("member list: %w", err)
	}
	c := &Cluster{Members: make([]Member, len(list.Members))}
	// Each goroutine writes only its member's slots.
	leaders := make([]uint64, len(list.Members))
	downgrades := make([]Version, len(list.Members))
	var wg sync.WaitGroup
	for i, m := range list.Members {
		c.Members[i] = Member{Name: m.Name, Learner: m.IsLearner}
		if len(m.ClientURLs) == 0 {
			continue // added, never started
		}
		wg.Add(1)
		go func(i int, url string) {
			defer wg.Done()
			if !portAnswers(url) {
				return
			}
			sctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			st, err := cli.Status(sctx, url)
			if err != nil {
				return
			}
			if v, err := ParseVersion(st.Version); err == nil {
				c.Members[i].Server = v
			}
			if v, err := ParseVersion(st.StorageVersion); err == nil {
				c.Members[i].Storage = v
			}
			leaders[i] = st.Leader
			c.Members[i].Healthy = len(st.Errors) == 0
			if di := st.DowngradeInfo; di != nil && di.GetEnabled() {
				if t, err := ParseVersion(di.GetTargetVersion()); err == nil {
					downgrades[i] = t
				}
			}
		}(i, m.ClientURLs[0])
	}
	wg.Wait()
	for _, t := range downgrades {
		if !t.IsZero() {
			c.Downgrade = t // the same on every member that reports it
		}
	}
	for _, id := range leaders {
		for _, m := range list.Members {
			if id != 0 && m.ID == id {
				c.Leader = m.Name
			}
		}
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil {
		return nil, fmt.Errorf("alarm list: %w", err)
	}
	for _, a := range alarms.Alarms {
		c.Alarms = append(c.Alarms, a.Alarm.String())
	}
	slices.Sort(c.Alarms)
	c.Alarms = slices.Compact(c.Alarms)
	for _, m := range list.Members {
		if len(m.ClientURLs) == 0 {
			continue
		}
		if v, err := clusterVersion(ctx, m.ClientURLs[0], tlsConf); err == nil {
			c.Version = v
			break
		}
	}
	return c, nil
}

// clusterVersion reads {"etcdcluster": "3.6.0"} from a member's /version.
func clusterVersion(ctx context.Context, clientURL string, tlsConf *tls.Config) (Version, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(clientURL, "/")+"/version", nil)
	if err != nil {
		return Version{}, err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return Version{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Cluster string `json:"etcdcluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return Version{}, fmt.Errorf("%s/version: %w", clientURL, err)
	}
	if body.Cluster == "" || body.Cluster == "not_decided" {
		return Version{}, fmt.Errorf("%s/version: cluster version not decided yet", clientURL)
	}
	v, err := ParseVersion(body.Cluster)
	if err != nil {
		return Version{}, err
	}
	if v.Minor == 0 {
		// A forming cluster reports the floor, 3.0.0, until its leader
		// decides the version from its members'.
		return Version{}, fmt.Errorf("%s/version: cluster version not decided yet (%s)", clientURL, v)
	}
	return v, nil
}

// portAnswers reports whether a plain TCP dial reaches a member's client
// URL within half a second. A dead member's port (closed, or its address
// gone) would otherwise hold a gRPC Status call for its whole timeout: in
// a replacement, where one member is always dead, that was seconds of the
// version step.
func portAnswers(clientURL string) bool {
	u, err := url.Parse(clientURL)
	if err != nil || u.Host == "" {
		return true // let Status say what is wrong
	}
	conn, err := net.DialTimeout("tcp", u.Host, 500*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
