package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/internal/tlsfiles"
)

// etcd v3 discovery (etcd 3.6+) keeps a token's state on an existing etcd
// cluster under /_etcd/registry/<token>: _config/size holds the expected
// size, members/<id> one "name=peerURL,..." entry per registered member.
const registryPrefix = "/_etcd/registry"

// Errors of etcd v3 discovery tokens.
var (
	ErrTokenExists   = errors.New("discovery token already exists with another size")
	ErrTokenNotFound = errors.New("discovery token not found")
)

// TokenCluster says how to reach the etcd cluster that holds discovery tokens.
type TokenCluster struct {
	Endpoints []string
	TLS       tlsfiles.Files
	// DialTimeout bounds connecting; default 5s.
	DialTimeout time.Duration
}

// RegisteredMember is one member registered under a token.
type RegisteredMember struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	PeerURLs []string `json:"peerURLs"`
}

// TokenStatus is a token's size and the members registered so far.
type TokenStatus struct {
	Token   string             `json:"token"`
	Size    int                `json:"size"`
	Members []RegisteredMember `json:"members"`
}

// Full reports whether every expected member has registered.
func (s TokenStatus) Full() bool { return len(s.Members) >= s.Size }

func sizeKey(token string) string    { return path.Join(registryPrefix, token, "_config", "size") }
func membersKey(token string) string { return path.Join(registryPrefix, token, "members") + "/" }

// NewToken returns a fresh random token, prefixed for readability.
func NewToken(prefix string) (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	if prefix == "" {
		return hex.EncodeToString(b[:]), nil
	}
	return prefix + "-" + hex.EncodeToString(b[:]), nil
}

func (d TokenCluster) client() (*clientv3.Client, error) {
	if len(d.Endpoints) == 0 {
		return nil, errors.New("no discovery endpoints; pass the discovery cluster's client URLs")
	}
	cfg := clientv3.Config{Endpoints: d.Endpoints, DialTimeout: d.DialTimeout, Logger: zap.NewNop()}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if d.TLS.CAFile != "" || d.TLS.CertFile != "" {
		tlsConf, err := d.TLS.ClientConfig()
		if err != nil {
			return nil, err
		}
		cfg.TLS = tlsConf
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to discovery cluster %v: %w", d.Endpoints, err)
	}
	return cli, nil
}

// CreateToken writes the token's expected size on the discovery cluster. It
// is idempotent for the same size; another size is ErrTokenExists.
func CreateToken(ctx context.Context, d TokenCluster, token string, size int) error {
	if token == "" || strings.ContainsAny(token, "/ ") {
		return fmt.Errorf("token %q: use letters, digits, '-' and '_'", token)
	}
	if size < 1 {
		return fmt.Errorf("size %d: a cluster has at least 1 member", size)
	}
	cli, err := d.client()
	if err != nil {
		return err
	}
	defer cli.Close()
	key := sizeKey(token)
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, strconv.Itoa(size))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("create token %s on %v: %w", token, d.Endpoints, err)
	}
	if resp.Succeeded {
		return nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 1 && string(kvs[0].Value) == strconv.Itoa(size) {
		return nil
	}
	got := "?"
	if len(kvs) == 1 {
		got = string(kvs[0].Value)
	}
	return fmt.Errorf("%w: token %s has size %s, not %d; pick a new token", ErrTokenExists, token, got, size)
}

// GetTokenStatus reads a token's size and registered members.
func GetTokenStatus(ctx context.Context, d TokenCluster, token string) (TokenStatus, error) {
	cli, err := d.client()
	if err != nil {
		return TokenStatus{}, err
	}
	defer cli.Close()
	st := TokenStatus{Token: token}
	sz, err := cli.Get(ctx, sizeKey(token))
	if err != nil {
		return st, fmt.Errorf("read token %s: %w", token, err)
	}
	if len(sz.Kvs) == 0 {
		return st, fmt.Errorf("%w: %s on %v; create it with etcdboot discovery new", ErrTokenNotFound, token, d.Endpoints)
	}
	if st.Size, err = strconv.Atoi(string(sz.Kvs[0].Value)); err != nil {
		return st, fmt.Errorf("token %s: size key holds %q, not a number", token, sz.Kvs[0].Value)
	}
	ms, err := cli.Get(ctx, membersKey(token), clientv3.WithPrefix())
	if err != nil {
		return st, fmt.Errorf("read members of token %s: %w", token, err)
	}
	for _, kv := range ms.Kvs {
		m := RegisteredMember{ID: strings.TrimPrefix(string(kv.Key), membersKey(token))}
		for _, entry := range strings.Split(string(kv.Value), ",") {
			name, url, ok := strings.Cut(entry, "=")
			if !ok {
				continue
			}
			m.Name = name
			m.PeerURLs = append(m.PeerURLs, url)
		}
		st.Members = append(st.Members, m)
	}
	sort.Slice(st.Members, func(i, j int) bool { return st.Members[i].Name < st.Members[j].Name })
	return st, nil
}
