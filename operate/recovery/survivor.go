package recovery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/internal/backupstore"
	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/internal/snapshot"
	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/spec"
)

// ErrMemberDoesNotAnswer means the member --from-member names could not be
// asked for its data: it is down, or not where the spec (or --endpoints)
// says.
var ErrMemberDoesNotAnswer = errors.New("the member does not answer")

// askTimeout bounds each question to a candidate endpoint.
const askTimeout = 5 * time.Second

// memberEndpoint is the client URL of the member called name in c: a
// listed member's first address, or, in an autoscaling group, the address
// its name was derived from (etcdconfig.NameFor), which must lie in the
// group's subnets.
func memberEndpoint(c *spec.Cluster, name string) (string, error) {
	port := c.Etcd.ClientPort
	if port == 0 {
		port = spec.DefaultClientPort
	}
	url := func(ip string) string { return "https://" + net.JoinHostPort(ip, strconv.Itoa(port)) }
	var names []string
	for _, m := range c.Members {
		if m.Name != name {
			names = append(names, m.Name)
			continue
		}
		if len(m.IPs) == 0 {
			return "", fmt.Errorf("member %s has no address in the spec; give its client URL with --endpoints", name)
		}
		return url(m.IPs[0]), nil
	}
	if as := c.Autoscaling; as != nil {
		if ip, ok := groupAddress(as, name); ok {
			return url(ip.String()), nil
		}
		return "", fmt.Errorf("%q is not a member name of group %s: a member is called autoscaling.namePrefix (%q) and its address with dashes, in %s (such as %s); etcdboot status lists them",
			name, c.Name, as.NamePrefix, strings.Join(as.Subnets, ", "), exampleName(as))
	}
	return "", fmt.Errorf("cluster %s has no member %q; its members are %s", c.Name, name, strings.Join(names, ", "))
}

// groupAddress inverts etcdconfig.NameFor for a name of the group as.
func groupAddress(as *spec.Autoscaling, name string) (netip.Addr, bool) {
	rest, ok := strings.CutPrefix(name, as.NamePrefix)
	if !ok {
		return netip.Addr{}, false
	}
	for _, sep := range []string{".", ":"} {
		ip, err := netip.ParseAddr(strings.ReplaceAll(rest, "-", sep))
		if err != nil || etcdconfig.NameFor(as.NamePrefix, ip) != name {
			continue
		}
		for _, s := range as.Subnets {
			if p, err := netip.ParsePrefix(s); err == nil && p.Contains(ip) {
				return ip, true
			}
		}
	}
	return netip.Addr{}, false
}

// exampleName is the name of the first seed, or of an address in the first
// subnet, for the message.
func exampleName(as *spec.Autoscaling) string {
	if len(as.Seeds) > 0 {
		if ip, err := netip.ParseAddr(as.Seeds[0]); err == nil {
			return etcdconfig.NameFor(as.NamePrefix, ip)
		}
	}
	if len(as.Subnets) > 0 {
		if p, err := netip.ParsePrefix(as.Subnets[0]); err == nil {
			return etcdconfig.NameFor(as.NamePrefix, p.Addr().Next())
		}
	}
	return as.NamePrefix + "10-0-0-7"
}

// survivorMember is the member a backup is taken from, as it answered.
type survivorMember struct {
	name, endpoint string
	// clusterID is etcd's cluster ID in hex, version the member's etcd.
	clusterID, version string
	tls                tlsfiles.Files
}

// findMember asks each candidate endpoint which member it is (its status,
// and its own member list read serializably: both answer without a
// quorum) and returns the one called name.
func findMember(ctx context.Context, candidates []string, name string, files tlsfiles.Files) (*survivorMember, error) {
	tlsConf, err := files.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the admin certificate (to take member %s's data): %w", name, err)
	}
	// Asked together: the ones that are down each take askTimeout.
	answers := make([]struct {
		m   *survivorMember
		err error
	}, len(candidates))
	var wg sync.WaitGroup
	for i, ep := range candidates {
		wg.Go(func() { answers[i].m, answers[i].err = whoIs(ctx, ep, tlsConf) })
	}
	wg.Wait()
	var problems, others []string
	for i, a := range answers {
		switch {
		case a.err != nil:
			problems = append(problems, candidates[i]+": "+a.err.Error())
		case a.m.name != name:
			others = append(others, candidates[i]+" is member "+a.m.name)
		default:
			a.m.tls = files
			return a.m, nil
		}
	}
	if len(others) > 0 {
		return nil, fmt.Errorf("member %s: %w: no endpoint that answers is it (%s); --from-member takes the data of a member that still runs: start etcd on it, give its client URL with --endpoints, or recover from a backup (--from latest)",
			name, ErrMemberDoesNotAnswer, strings.Join(append(others, problems...), "; "))
	}
	return nil, fmt.Errorf("member %s: %w (%s); --from-member takes the data of a member that still runs: start etcd on it, or recover from a backup (--from latest)", name, ErrMemberDoesNotAnswer, strings.Join(problems, "; "))
}

// whoIs asks the member at ep who it is.
func whoIs(ctx context.Context, ep string, tlsConf *tls.Config) (*survivorMember, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, TLS: tlsConf, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	st, err := cli.Status(ctx, ep)
	if err != nil {
		return nil, err
	}
	ml, err := cli.MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(ml.Members, func(m *etcdserverpb.Member) bool { return m.ID == st.Header.MemberId })
	if i < 0 {
		return nil, fmt.Errorf("member %x is not in its own member list", st.Header.MemberId)
	}
	return &survivorMember{name: ml.Members[i].Name, endpoint: ep, clusterID: fmt.Sprintf("%x", st.Header.ClusterId), version: st.Version}, nil
}

// backUp takes a snapshot from the member (checked as it streams: etcd's
// appended hash and bbolt's consistency check), restores it into a scratch
// member to prove it restores with the same revision and key count, and
// uploads it to store as
// a backup of cluster taken at taken, marked as the survivor's: data
// first, manifest last, as every backup.
func (s *survivorMember) backUp(ctx context.Context, store *backupstore.Store, cluster string, taken time.Time) (backupstore.Manifest, error) {
	tmp, err := os.MkdirTemp("", "etcdboot-recover-member-")
	if err != nil {
		return backupstore.Manifest{}, err
	}
	defer os.RemoveAll(tmp)
	info, err := snapshot.Save(ctx, snapshot.SaveOptions{Endpoints: []string{s.endpoint}, TLS: s.tls, Output: filepath.Join(tmp, "snapshot.db")})
	if err != nil {
		return backupstore.Manifest{}, fmt.Errorf("member %s's data: %w", s.name, err)
	}
	// Every member will restore this snapshot: prove it restores, with
	// the keyspace it was taken with, before the request names it.
	got, err := snapshot.TrialRestore(info.Path, info.SHA256, tmp)
	if err != nil {
		return backupstore.Manifest{}, fmt.Errorf("member %s's data: %w; no recovery request was written", s.name, err)
	}
	if got.Revision != info.Revision || got.TotalKeys != info.TotalKeys {
		return backupstore.Manifest{}, fmt.Errorf("member %s's data: a trial restore has revision %d and %d keys, the snapshot had %d and %d when it was taken; no recovery request was written",
			s.name, got.Revision, got.TotalKeys, info.Revision, info.TotalKeys)
	}
	m, err := store.Put(ctx, info.Path, backupstore.Manifest{
		Cluster: cluster, ClusterID: s.clusterID, Member: s.name, Source: backupstore.SourceSurvivor, Taken: taken,
		Revision: info.Revision, TotalKeys: info.TotalKeys, EtcdVersion: s.version, StorageVersion: info.Version,
		Hash: info.Hash, SHA256: info.SHA256, Verified: true, TestRestored: true,
	})
	if err != nil {
		return m, fmt.Errorf("upload of member %s's data: %w; no recovery request was written", s.name, err)
	}
	return m, nil
}
