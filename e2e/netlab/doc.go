// Package netlab builds throwaway test hosts out of Linux network namespaces
// joined by one bridge (10.123.0.0/24 by default), runs processes inside them
// with one log file each, and always tears all of it down again, including
// whatever a killed earlier run left behind under the same name prefix.
//
// The core API (New, Lab, Host, Process) does not depend on package testing so
// that `make demo` can use it; NewForTest wraps it for end-to-end tests.
package netlab
