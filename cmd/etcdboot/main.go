// Command etcdboot generates self-bootstrapping etcd clusters and operates
// them: PKI, node payloads, DNS, monitoring, status.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "etcdboot:", err)
		os.Exit(1)
	}
}
