package status

import (
	"net"
	"strconv"

	"github.com/etcdboot/etcdboot/spec"
)

// EndpointsFromCluster returns https://IP:clientPort for each member of c,
// with its first IP. An autoscaling cluster, whose members are not known in
// advance, yields its seed IPs instead.
func EndpointsFromCluster(c *spec.Cluster) []string {
	if c == nil {
		return nil
	}
	port := c.Etcd.ClientPort
	if port == 0 {
		port = spec.DefaultClientPort
	}
	url := func(ip string) string { return "https://" + net.JoinHostPort(ip, strconv.Itoa(port)) }
	var eps []string
	for _, m := range c.Members {
		if len(m.IPs) > 0 {
			eps = append(eps, url(m.IPs[0]))
		}
	}
	if len(eps) == 0 && c.Autoscaling != nil {
		for _, ip := range c.Autoscaling.Seeds {
			eps = append(eps, url(ip))
		}
	}
	return eps
}
