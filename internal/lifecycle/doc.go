// Package lifecycle is the one life etcdboot's servers (the DNS server, the
// PXE payload server) share: a Lifecycle starts a server's serve loops once
// and stops them once, gracefully; Run keeps a server in the foreground until
// SIGINT or SIGTERM and reloads it on SIGHUP.
package lifecycle
