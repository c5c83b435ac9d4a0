package rollout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcdboot/etcdboot/internal/tlsfiles"
	"github.com/etcdboot/etcdboot/internal/upgrade"
)

// Options says which cluster to ask, with which credentials: the admin
// client certificate (a downgrade needs it; a plan only reads).
type Options struct {
	Endpoints []string
	TLS       tlsfiles.Files
	// Timeout bounds the whole conversation; zero means a minute.
	Timeout time.Duration
}

func (o Options) connect(ctx context.Context) (*clientv3.Client, *tls.Config, context.Context, context.CancelFunc, error) {
	if len(o.Endpoints) == 0 {
		return nil, nil, nil, nil, errors.New("no endpoints: give the cluster spec or --endpoints")
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	tlsConf, err := o.TLS.ClientConfig()
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: o.Endpoints, TLS: tlsConf, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("connect to %v: %w", o.Endpoints, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return cli, tlsConf, ctx, cancel, nil
}

// MakePlan observes the running cluster and plans its roll to the release to.
func MakePlan(ctx context.Context, o Options, to string) (Plan, error) {
	target, err := upgrade.ParseVersion(to)
	if err != nil {
		return Plan{}, fmt.Errorf("--to: %w", err)
	}
	if strings.Count(strings.TrimPrefix(to, "v"), ".") != 2 {
		return Plan{}, fmt.Errorf("--to %s: name the exact release the new image carries, e.g. 3.7.3", to)
	}
	cli, tlsConf, ctx, cancel, err := o.connect(ctx)
	if err != nil {
		return Plan{}, err
	}
	defer cancel()
	defer cli.Close()
	c, err := upgrade.ObserveCluster(ctx, cli, tlsConf)
	if err != nil {
		return Plan{}, fmt.Errorf("observe the cluster: %w", err)
	}
	return planSteps(*c, target), nil
}

// DowngradeResult is what etcd answered.
type DowngradeResult struct {
	Target         string `json:"target"`
	ClusterVersion string `json:"clusterVersionBefore"`
}

// Downgrade runs etcd's downgrade procedure to the minor release of to
// (e.g. 3.6): validate, then enable. Afterwards each member may restart onto
// an image with that release; its agent accepts the older binary because
// the cluster reports the enabled downgrade. etcd 3.5 has no downgrade API.
func Downgrade(ctx context.Context, o Options, to string) (DowngradeResult, error) {
	target, err := upgrade.ParseVersion(to)
	if err != nil {
		return DowngradeResult{}, fmt.Errorf("--to: %w", err)
	}
	minor := fmt.Sprintf("%d.%d.0", target.Major, target.Minor)
	cli, _, ctx, cancel, err := o.connect(ctx)
	if err != nil {
		return DowngradeResult{}, err
	}
	defer cancel()
	defer cli.Close()
	if _, err := cli.Downgrade(ctx, clientv3.DowngradeValidate, minor); err != nil {
		return DowngradeResult{}, fmt.Errorf("etcd refuses a downgrade to %s (validate): %w", target.MinorString(), err)
	}
	resp, err := cli.Downgrade(ctx, clientv3.DowngradeEnable, minor)
	if err != nil {
		return DowngradeResult{}, fmt.Errorf("enable the downgrade to %s: %w", target.MinorString(), err)
	}
	return DowngradeResult{Target: target.MinorString(), ClusterVersion: resp.Version}, nil
}
