// Package spec is etcdboot's vocabulary: the Cluster an operator writes and
// the NodePayload one node receives, their YAML loading (through yaml.Node, so
// every problem carries file:line:column) and their validation, which reports
// every problem at once.
package spec
