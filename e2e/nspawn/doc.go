// Package nspawn boots copies of a member image as machines for the image
// end-to-end tests: each Machine is a copy-on-write overlay of the image's
// root file system, booted with systemd as PID 1 under systemd-nspawn inside
// a netlab host's network namespace (--register=no --keep-unit, with
// CAP_NET_ADMIN so the agent's nftables rules load). It owns the overlay
// mounts, the nspawn process, first-boot seeds (cloud-init NoCloud), command
// execution inside a running machine and reading its persistent journal; it
// cleans up a killed run's leftovers by name.
package nspawn
