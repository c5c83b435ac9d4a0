// Command etcdboot-agent brings an etcd member up from its node payload.
package main

import (
	"os"

	"github.com/etcdboot/etcdboot/internal/cli"
)

func main() {
	os.Exit(cli.Exit(os.Stderr, "etcdboot-agent", newRootCommand().Execute()))
}
