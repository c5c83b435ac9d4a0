// Package s3test starts a real S3-compatible server for tests: SeaweedFS's
// `weed server` with its S3 gateway (built once per machine by
// scripts/build-seaweedfs.sh, `make seaweedfs`), on loopback or on an
// address a lab's namespaces route to, with signed-request authentication,
// a bucket made ready, and a firm stop when the test ends.
package s3test
