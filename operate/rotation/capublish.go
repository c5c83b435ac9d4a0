package rotation

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/pki"
)

// publishCAPhase publishes the phase of a group's CA rotation that out/pki
// holds, in one transaction through the group with out/'s admin
// certificate: the CA bundle (out/pki/ca.crt) at pki.PublishedCAKey, and in
// phase (b) the new CA's issuer (with the cross-certificate after it) at
// pki.PublishedIssuerKey. Every member's watcher installs the bundle, then
// the issuer, before its next renewal, which mints its certificates with
// them. It returns the revision of the transaction.
func publishCAPhase(ctx context.Context, opts LiveOptions, dir pki.Dir, phase CAPhase) (int64, error) {
	caPEM, err := os.ReadFile(dir.CertPath("ca"))
	if err != nil {
		return 0, err
	}
	ops := []clientv3.Op{clientv3.OpPut(pki.PublishedCAKey, string(caPEM))}
	if phase == CAPhaseNewLeaves {
		pub := pki.PublishedIssuer{}
		if pub.CertPEM, pub.KeyPEM, err = readPair(dir, issuerName); err != nil {
			return 0, fmt.Errorf("the new CA's issuer: %w", err)
		}
		ops = append(ops, clientv3.OpPut(pki.PublishedIssuerKey, string(pub.Marshal())))
	}
	return publish(ctx, opts, dir, ops...)
}

// publishIssuer puts pub at pki.PublishedIssuerKey through the group's
// endpoints with the admin client certificate and returns the revision.
func publishIssuer(ctx context.Context, opts LiveOptions, dir pki.Dir, pub pki.PublishedIssuer) (int64, error) {
	return publish(ctx, opts, dir, clientv3.OpPut(pki.PublishedIssuerKey, string(pub.Marshal())))
}

// publish puts ops in one transaction through the group's endpoints with
// out/'s admin certificate and returns its revision.
func publish(ctx context.Context, opts LiveOptions, dir pki.Dir, ops ...clientv3.Op) (int64, error) {
	cli, err := adminClient(dir, opts.Endpoints)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	resp, err := cli.Txn(pctx).Then(ops...).Commit()
	if err != nil {
		var keys []string
		for _, op := range ops {
			keys = append(keys, string(op.KeyBytes()))
		}
		return 0, fmt.Errorf("publish %s through %v: %w", strings.Join(keys, " and "), opts.Endpoints, err)
	}
	return resp.Header.Revision, nil
}

// groupEndpoints lists the client URL of every voting member the group
// has now, asked through endpoints (the spec's seeds or --endpoints) with
// out/'s admin certificate: a group's instances come and go, the spec
// names none of them.
func groupEndpoints(ctx context.Context, dir pki.Dir, endpoints []string, timeout time.Duration) ([]string, error) {
	cli, err := adminClient(dir, endpoints)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	mctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ml, err := cli.MemberList(mctx)
	if err != nil {
		return nil, fmt.Errorf("list the group's members through %v: %w", endpoints, err)
	}
	var out []string
	for _, m := range ml.Members {
		if !m.IsLearner && len(m.ClientURLs) > 0 {
			out = append(out, m.ClientURLs[0])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the group lists no voting member with a client URL (asked through %v)", endpoints)
	}
	slices.Sort(out)
	return out, nil
}

// adminClient connects to endpoints with out/pki's CA bundle and admin
// certificate.
func adminClient(dir pki.Dir, endpoints []string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("no endpoints: give --endpoints, or seeds in the spec's autoscaling section")
	}
	tlsConf, err := tlsfiles.Files{CAFile: dir.CertPath("ca"), CertFile: dir.CertPath("admin"), KeyFile: dir.KeyPath("admin")}.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the admin certificate: %w", err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("connect to %v: %w", endpoints, err)
	}
	return cli, nil
}
