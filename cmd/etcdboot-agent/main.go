// Command etcdboot-agent brings an etcd member up from its node payload.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "etcdboot-agent:", err)
		os.Exit(1)
	}
}
