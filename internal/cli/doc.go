// Package cli holds what both binaries' commands share around cobra: the
// exit code a command returns to main (an ExitError instead of os.Exit, so
// deferred cleanup runs and the command stays testable) and the logger
// --log-level chooses.
package cli
