package netlab

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// The test binary doubles as the programs run inside the lab's hosts, so the
// tests need nothing installed beyond ip and nft. NETLAB_HELPER picks the
// role; NETLAB_ADDR is its address.
const helperEnv = "NETLAB_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		os.Exit(runHelper(role, os.Getenv("NETLAB_ADDR")))
	}
	os.Exit(m.Run())
}

func runHelper(role, addr string) int {
	switch role {
	case "listen": // TCP: greet every connection with NETLAB_GREETING
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("listening on", ln.Addr())
		fmt.Fprintln(os.Stderr, "a line on stderr")
		for {
			c, err := ln.Accept()
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			fmt.Println("connection from", c.RemoteAddr())
			fmt.Fprintln(c, os.Getenv("NETLAB_GREETING"))
			c.Close()
		}
	case "dial": // TCP: print what the listener says
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.Copy(os.Stdout, c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "udpsink": // UDP: log where every datagram comes from
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("listening on", pc.LocalAddr())
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			fmt.Println("datagram from", from.(*net.UDPAddr).IP)
		}
	case "resolve": // look a name up with Go's own resolver
		r := &net.Resolver{PreferGo: true}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		addrs, err := r.LookupHost(ctx, addr)
		fmt.Println(addrs, err)
		return 0
	case "demo": // what `make demo` does: a lab that an interrupt removes
		opts := testOptions()
		opts.Prefix = addr
		lab, err := New(opts)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		lab.CloseOnSignal()
		h, err := lab.AddHost("a", addrA)
		if err == nil {
			_, err = h.Start("sleep", []string{"sleep", "1000"}, nil)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			lab.Close()
			return 1
		}
		fmt.Println("ready")
		select {}
	case "exit3":
		fmt.Println("exiting with 3")
		return 3
	}
	fmt.Fprintln(os.Stderr, "unknown helper role", role)
	return 2
}
