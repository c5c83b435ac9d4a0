// Package generate is etcdboot's one pipeline: cluster spec -> PKI -> node
// payloads (node.yaml, Ignition, cloud-init, /etc/hosts) -> DNS zone ->
// Prometheus and kubeadm configuration, written to an output directory.
// Re-running it keeps the CA and every key that is still right.
package generate
