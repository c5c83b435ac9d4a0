package status

import "time"

// DefaultTimeout bounds the questions asked of one endpoint when
// Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Options says which endpoints to ask and with which credentials.
type Options struct {
	// Endpoints are client URLs, e.g. https://10.0.0.1:2379. An http://
	// endpoint is asked without TLS; any other is asked over TLS.
	Endpoints []string
	// CAFile is the PEM CA bundle that signed the members' server
	// certificates; empty means the system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate and key; the
	// healthcheck-client certificate is enough. Both or neither.
	CertFile, KeyFile string
	// Timeout bounds everything asked of one endpoint; zero means
	// DefaultTimeout. Endpoints are asked concurrently, so it also bounds
	// Check as a whole.
	Timeout time.Duration
}

// EndpointStatus is what one endpoint answered: its health and, when it
// answered Maintenance.Status, the member behind it.
type EndpointStatus struct {
	// Endpoint is the client URL asked, as given in Options.Endpoints.
	Endpoint string `json:"endpoint"`
	// Healthy is true when the linearizable health read succeeded (or was
	// refused for permission, which needs consensus too) and the cluster has
	// no active alarm.
	Healthy bool `json:"healthy"`
	// Took is how long the health read took, in nanoseconds in JSON; for an
	// endpoint that never answered, how long it was waited for.
	Took time.Duration `json:"took"`
	// Error says what went wrong asking the endpoint, and so why it is not
	// healthy; empty when nothing did.
	Error string `json:"error,omitempty"`

	// ID is the member ID in hex, as etcdctl prints it; empty when the
	// endpoint did not answer Maintenance.Status.
	ID string `json:"id"`
	// Name is the member's name from the member list.
	Name string `json:"name"`
	// Version is the etcd server version, e.g. "3.6.16".
	Version string `json:"version"`
	// StorageVersion is the version of the member's backend schema, e.g.
	// "3.6.0"; etcd 3.5 reports none.
	StorageVersion string `json:"storageVersion,omitempty"`
	// DBSize is the backend database's size in bytes; DBSizeInUse the part
	// of it in use (the rest is reclaimed by defragmentation).
	DBSize      int64 `json:"dbSize"`
	DBSizeInUse int64 `json:"dbSizeInUse"`
	// IsLeader is true for the member that is raft leader.
	IsLeader bool `json:"isLeader"`
	// IsLearner is true for a non-voting learner member.
	IsLearner bool `json:"isLearner"`
	// RaftTerm, RaftIndex and RaftAppliedIndex are the member's raft term,
	// committed index and applied index.
	RaftTerm         uint64 `json:"raftTerm"`
	RaftIndex        uint64 `json:"raftIndex"`
	RaftAppliedIndex uint64 `json:"raftAppliedIndex"`
	// Errors are the errors the member itself reports (e.g. an alarm).
	Errors []string `json:"errors,omitempty"`
}

// Member is one entry of the cluster's member list.
type Member struct {
	// ID is the member ID in hex, as etcdctl prints it.
	ID string `json:"id"`
	// Name is empty for a member that was added but has not started yet.
	Name string `json:"name"`
	// PeerURLs and ClientURLs are the member's advertised URLs; ClientURLs
	// is empty until the member has started.
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	// IsLearner is true for a non-voting learner member.
	IsLearner bool `json:"isLearner"`
}

// Report is the state of a cluster as its endpoints describe it.
type Report struct {
	// Endpoints are in the order of Options.Endpoints.
	Endpoints []EndpointStatus `json:"endpoints"`
	// Members is the leader's member list, or that of the first endpoint
	// that gave one when no leader answered.
	Members []Member `json:"members"`
	// ClusterVersion is the version the whole cluster runs at (the lowest
	// minor of its members, etcd's /version "etcdcluster"), e.g. "3.6.0";
	// empty when no member said.
	ClusterVersion string `json:"clusterVersion,omitempty"`
}

// Healthy reports whether every endpoint is healthy; a report without
// endpoints is not.
func (r Report) Healthy() bool {
	if len(r.Endpoints) == 0 {
		return false
	}
	for _, e := range r.Endpoints {
		if !e.Healthy {
			return false
		}
	}
	return true
}
