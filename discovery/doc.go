// Package discovery is how etcd members find each other over DNS: the
// _etcd-server-ssl._tcp and _etcd-client-ssl._tcp SRV record set and its
// RFC 1035 zone file, an authoritative DNS server for labs and PXE networks
// that accepts TSIG-signed RFC 2136 updates, and the client side (SRV lookup,
// a member's self-registration).
//
// Discovery through an etcd v3 discovery token belongs here as well, in a file
// of its own.
package discovery
