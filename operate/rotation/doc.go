// Package rotation looks after the certificates of a running cluster: Check
// reports, for certificate files, a generator PKI directory and the chains
// members actually serve, when each certificate expires, whether it verifies
// to the cluster CA and whether its key usages fit its role; Rotate reissues
// every certificate below the root CA with new keys and rewrites the node
// payloads, keeping the CA so that members still trust one another.
package rotation
