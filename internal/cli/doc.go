// Package cli carries a command's exit code from a cobra RunE to main: a
// command returns an ExitError instead of calling os.Exit, so deferred
// cleanup runs and the command stays testable.
package cli
