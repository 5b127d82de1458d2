package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/daemon"
	"github.com/dnspin/dnspin/resolver"
)

// startUpstream is a real DNS server on loopback answering every A query
// with 198.18.0.1.
func startUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(198, 18, 0, 1)}}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func writeConfig(t *testing.T, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "dnspin.toml")
	src := fmt.Sprintf(`listen = ["127.0.0.1:0"]
upstreams = [%q]
state_dir = %q
control = %q
# The upstream is always healthy here: a loaded machine must not turn a
# slow live answer into the pin (the fallback is the resolver's tests' job).
[outage]
answer_budget = "10s"
client_timeout = "15s"
[platform]
domains = ["tickets.test"]
# No TLS checks of pins: 192.0.2.10 is not on loopback (pin verification
# is tested in a namespace, pincheck_linux_test.go).
verify_interval = "0s"
[[pin]]
name = "shop.tickets.test"
a = ["192.0.2.10"]
`, upstream, dir, filepath.Join(dir, "dnspin.sock"))
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServeAndQuery(t *testing.T) {
	up := startUpstream(t)
	cfg, err := config.Load(writeConfig(t, up))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // a failing test must not leave the daemon running
	ready := make(chan *resolver.Resolver, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, cfg, daemon.Options{Logger: newLogger(&strings.Builder{}), Ready: func(r *resolver.Resolver) { ready <- r }})
	}()
	var r *resolver.Resolver
	select {
	case r = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	addr := r.Addrs()[0]

	code, out, errs := runCmd(t, "query", "shop.tickets.test", "--server", addr)
	if code != 0 || !strings.Contains(out, "198.18.0.1") || !strings.Contains(out, "source: live") {
		t.Fatalf("query live: exit %d\n%s%s", code, out, errs)
	}
	r.SetMode(resolver.ModePinned)
	code, out, errs = runCmd(t, "query", "--type", "A", "shop.tickets.test", "--server", addr)
	if code != 0 || !strings.Contains(out, "192.0.2.10") || !strings.Contains(out, "source: pinned") {
		t.Fatalf("query pinned: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCmd(t, "query", "shop.tickets.test", "--type", "AAAA", "--server", addr)
	if code != 1 || !strings.Contains(out, "NOERROR") {
		t.Fatalf("query without records: exit %d, want 1\n%s", code, out)
	}
	code, out, _ = runCmd(t, "query", "use-application-dns.net", "--server", addr)
	if code != 1 || !strings.Contains(out, "NXDOMAIN") {
		t.Fatalf("canary: exit %d, want 1\n%s", code, out)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestQueryUsage(t *testing.T) {
	for _, args := range [][]string{
		{"query"},
		{"query", "a.test", "b.test"},
		{"query", "a.test", "--type", "BOGUS", "--server", "127.0.0.1:1"},
		{"run", "extra"},
	} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestRunPortInUse(t *testing.T) {
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.LocalAddr().String()
	code, _, errs := runCmd(t, "run", "--config", writeConfig(t, "192.0.2.53"), "--listen", addr)
	want := "cannot listen on udp " + addr + ": address already in use"
	if code != 1 || !strings.Contains(errs, want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Fatalf("exit %d, stderr %q; want one line with %q", code, errs, want)
	}
}
