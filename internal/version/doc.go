// Package version holds etcdboot's version, set at build time with
// -ldflags "-X github.com/etcdboot/etcdboot/internal/version.Version=v1.2.3".
package version
