// Command etcdboot generates self-bootstrapping etcd clusters and operates
// them: PKI, node payloads, DNS, monitoring, status.
package main

import (
	"os"

	"github.com/etcdboot/etcdboot/internal/cli"
)

func main() {
	os.Exit(cli.Exit(os.Stderr, "etcdboot", newRootCommand().Execute()))
}
