// Package pki owns the cluster's certificate authority and every certificate
// etcdboot issues: the root CA (whose key never leaves the generator), the
// short-lived, name-constrained intermediate that autoscaling members use to
// mint their own certificates, and the server, peer and client certificates.
// Keys, CSRs and signing go through cfssl (initca, csr, signer/local with
// cfssl signing profiles); Dir keeps an output directory of them idempotent.
package pki
