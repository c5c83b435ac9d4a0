// Package tlsfiles loads a CA bundle and a client certificate from PEM files
// into a tls.Config for talking to etcd, with errors that name the file.
package tlsfiles
