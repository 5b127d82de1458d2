package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/config"
	"github.com/dnspin/dnspin/internal/daemon"
	"github.com/dnspin/dnspin/internal/daemon/daemontest"
	"github.com/dnspin/dnspin/resolver"
)

func TestServeAndQuery(t *testing.T) {
	up := daemontest.StartUpstream(t)
	cfg, err := config.Load(daemontest.WriteConfig(t, up))
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
	code, _, errs := runCmd(t, "run", "--config", daemontest.WriteConfig(t, "192.0.2.53"), "--listen", addr)
	want := "cannot listen on udp " + addr + ": address already in use"
	if code != 1 || !strings.Contains(errs, want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Fatalf("exit %d, stderr %q; want one line with %q", code, errs, want)
	}
}

// TestRunListenChecked: --listen goes through the config's check of listen
// addresses, with its message, before anything is bound.
func TestRunListenChecked(t *testing.T) {
	code, _, errs := runCmd(t, "run", "--config", daemontest.WriteConfig(t, "192.0.2.53"), "--listen", "0.0.0.0:5399")
	want := "--listen: 0.0.0.0:5399 is not a loopback address: dnspin listens on loopback only so it is never an open resolver; set allow_remote = true"
	if code != 1 || !strings.Contains(errs, want) {
		t.Fatalf("exit %d, stderr %q; want %q", code, errs, want)
	}
}
