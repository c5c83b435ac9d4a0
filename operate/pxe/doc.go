// Package pxe is the bare-metal PXE payload server: it hands each
// network-booting machine its own iPXE script, Ignition config or cloud-init
// NoCloud seed from the generator's out/ tree, chosen by MAC, SMBIOS UUID or
// DHCP hostname, the way matchbox does but with the secrets in mind: a
// per-node fetch budget that survives restarts and a per-machine source
// address allowlist.
//
// The domain (selectors, groups, profiles, iPXE scripts) is pure and lives in
// selector.go, groups.go, machine.go, profile.go and ipxe.go; Store reads the
// out/ tree into an immutable Snapshot; the handlers only translate HTTP.
package pxe
