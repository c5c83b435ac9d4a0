package bootstrap

import (
	"path/filepath"

	"github.com/etcdboot/etcdboot/internal/etcdconfig"
	"github.com/etcdboot/etcdboot/spec"
)

// memberConfig is this member's etcd configuration for plan: etcdconfig's
// one function of the payload, the cluster the plan starts with (the join's
// member list for a join, else the peers discovery found), the node's
// addresses and its etcd minor version.
func (a *Agent) memberConfig(n node, plan Plan, found discovered, j joined) etcdconfig.Config {
	join := plan.Action == ActionJoin || plan.Action == ActionRejoin
	return etcdconfig.Member(etcdconfig.Input{
		Payload: n.payload,
		Minor:   n.minor,
		Addrs:   n.addrs,
		Root:    a.cfg.Root,
		Cluster: etcdconfig.Cluster{
			State:       plan.ClusterState,
			Join:        join,
			JoinMembers: j.initialCluster,
			Peers:       found.peers,
			Running:     found.running != nil,
		},
	})
}

// writeConfig is the config step: it writes etcd.conf; in yaml format it
// holds only ETCD_CONFIG_FILE, so etcd never gets one setting twice.
func (a *Agent) writeConfig(n node, c etcdconfig.Config) error {
	env := c.Env()
	if n.payload.Etcd.ConfigFormat == spec.ConfigYAML {
		yamlPath := a.path(filepath.Join(a.cfg.EtcdConfigDir, "etcd.yaml"))
		data, err := c.YAML()
		if err != nil {
			return err
		}
		if err := writeFileAtomic(yamlPath, data, 0o644); err != nil {
			return err
		}
		env = []byte("# Written by etcdboot-agent: etcd reads its settings from the config file.\n" + etcdconfig.EnvName("config-file") + "=" + yamlPath + "\n")
	}
	return writeFileAtomic(a.EnvFilePath(), env, 0o644)
}
