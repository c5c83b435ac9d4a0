package status

import (
	"slices"
	"testing"

	"github.com/etcdboot/etcdboot/spec"
)

func TestEndpointsFromClusterUsesEachMembersFirstIPAndClientPort(t *testing.T) {
	tests := []struct {
		name string
		c    *spec.Cluster
		want []string
	}{
		{"nil cluster", nil, nil},
		{
			"manual procedure's three nodes, default port",
			&spec.Cluster{Members: []spec.Member{
				{Name: "etcd1", IPs: []string{"192.168.2.51"}},
				{Name: "etcd2", IPs: []string{"192.168.2.52", "10.0.0.2"}},
				{Name: "etcd3", IPs: []string{"192.168.2.53"}},
			}},
			[]string{"https://192.168.2.51:2379", "https://192.168.2.52:2379", "https://192.168.2.53:2379"},
		},
		{
			"custom port and IPv6",
			&spec.Cluster{Etcd: spec.Etcd{ClientPort: 12379}, Members: []spec.Member{
				{Name: "a", IPs: []string{"fd00::1"}},
				{Name: "b", IPs: []string{"10.0.0.2"}},
			}},
			[]string{"https://[fd00::1]:12379", "https://10.0.0.2:12379"},
		},
		{
			"autoscaling group: seeds",
			&spec.Cluster{Autoscaling: &spec.Autoscaling{Size: 3, Seeds: []string{"10.1.0.10", "10.1.0.11"}}},
			[]string{"https://10.1.0.10:2379", "https://10.1.0.11:2379"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EndpointsFromCluster(tt.c); !slices.Equal(got, tt.want) {
				t.Errorf("EndpointsFromCluster = %v, want %v", got, tt.want)
			}
		})
	}
}
