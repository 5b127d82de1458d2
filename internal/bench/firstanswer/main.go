// Command firstanswer starts a DNS server and measures the time from its
// exec to its first answer: it asks one name over UDP every millisecond
// (one socket, no process per try, so the prober costs little beside the
// server) until an answer with records comes back, prints the
// milliseconds and the server's RSS at that moment, and stops the server
// it started (SIGTERM, by PID). internal/bench/startup.sh runs it with
// generated configs of many pins. It is a test tool, not part of dnspin.
//
//	firstanswer -addr 127.0.0.11:5397 -name h0.example.test -- /tmp/dnspin run --config /tmp/p.toml
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func main() {
	addr := flag.String("addr", "127.0.0.11:5397", "the server's UDP address (loopback only)")
	name := flag.String("name", "h0.example.test", "the name asked (type A)")
	limit := flag.Duration("limit", 30*time.Second, "give up after this long")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().IsLoopback() || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: firstanswer -addr 127.x.x.x:PORT -name NAME -- COMMAND ARGS...")
		os.Exit(2)
	}
	ms, rss, err := run(ap, dns.Fqdn(*name), *limit, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "firstanswer:", err)
		os.Exit(1)
	}
	fmt.Printf("%d %.1f\n", ms, rss)
}

// run starts the command and asks until it answers; it returns the
// milliseconds from exec to the answer and the RSS in MB then.
func run(ap netip.AddrPort, name string, limit time.Duration, argv []string) (int64, float64, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	pkt, err := q.Pack()
	if err != nil {
		return 0, 0, err
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	var out bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	buf := make([]byte, 4096)
	to := net.UDPAddrFromAddrPort(ap)
	for time.Since(start) < limit {
		select {
		case err := <-exited:
			exited <- err
			return 0, 0, fmt.Errorf("the server exited (%v) before answering: %s", err, lastLines(out.String(), 3))
		default:
		}
		c.WriteToUDP(pkt, to)
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				break
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil && m.Id == q.Id && len(m.Answer) > 0 {
				ms := time.Since(start).Milliseconds()
				return ms, rssMB(cmd.Process.Pid), nil
			}
		}
	}
	return 0, 0, fmt.Errorf("no answer within %v: %s", limit, lastLines(out.String(), 3))
}

// rssMB reads VmRSS of pid (Linux), 0 elsewhere.
func rssMB(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}
