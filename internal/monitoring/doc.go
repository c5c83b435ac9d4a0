// Package monitoring is the Prometheus side of a cluster: the alert rules
// (Rules, modelled on etcd's upstream mixin plus etcdboot's own alerts on
// certificates, backups, learners and the agent), the scrape configuration
// that finds the members and their agents (PrometheusConfig), and the
// collectors the agent registers and serves on /metrics (AgentMetrics).
package monitoring
