//go:build windows

// Command pipecheck is a minimal reproduction of how go-winio's pipe
// listener behaves under Wine (see docs/wine.md). It listens on a named
// pipe with winio.ListenPipe, then dials it N times; each dial writes one
// line and waits for the server to echo it.
//
//	pipecheck [-n 3] [-timeout 3s] [-pipe \\.\pipe\NAME]
//
// On Windows every dial is echoed. Under Wine 8 the first dial's CreateFile
// succeeds but nothing reaches Accept: the client is connected to the
// listener's first, never-accepted pipe instance, which winio creates
// without read/write access expecting the named pipe file system to keep it
// disconnected (Windows does; Wine lists it as listening). Later dials are
// echoed, because the first instance is taken by then.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/Microsoft/go-winio"
)

func main() {
	n := flag.Int("n", 3, "dials")
	timeout := flag.Duration("timeout", 3*time.Second, "per dial, for connect and echo")
	name := flag.String("pipe", `\\.\pipe\dnspin-pipecheck`, "pipe path")
	flag.Parse()

	ln, err := winio.ListenPipe(*name, nil)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				l, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					fmt.Fprint(c, l)
				}
			}(c)
		}
	}()

	failed := 0
	for i := 1; i <= *n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		c, err := winio.DialPipeContext(ctx, *name)
		cancel()
		if err != nil {
			fmt.Printf("dial %d: connect: %v\n", i, err)
			failed++
			continue
		}
		_ = c.SetDeadline(time.Now().Add(*timeout))
		fmt.Fprintf(c, "hello %d\n", i)
		l, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			fmt.Printf("dial %d: connected, no echo: %v\n", i, err)
			failed++
		} else {
			fmt.Printf("dial %d: echoed %q\n", i, l)
		}
		c.Close()
	}
	if failed > 0 {
		os.Exit(1)
	}
}
