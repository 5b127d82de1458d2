package e2e

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// The tests in this file run the real systemd-resolved (the Debian package,
// unpacked; see nstest.StartResolved) in the test's namespaces, with
// /etc/resolv.conf pointing at its stub as on Ubuntu, and the network's
// own server on the link (as NetworkManager or networkd would set it).

var scopedPlan = activation.Plan{Mode: "scoped", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}

// resolvedNetwork starts resolved and the network's server on addr
// (port 53), and waits until glibc resolves through the stub. A server on
// the LAN is set on dnsv0 with the search domain "lan", as DHCP would; a
// loopback one (a local dnsmasq) globally in /etc/systemd/resolved.conf,
// the only place resolved can use it (link servers are asked through
// their link).
func resolvedNetwork(t *testing.T, env *nstest.Env, addr string) (*nstest.Resolved, *resolvertest.Upstream) {
	t.Helper()
	rd := nstest.StartResolved(t, env)
	net := startUpstream(t, addr+":53", map[string]string{
		"shop.tickets.example": upstreamAddr,
		"www.tickets.example":  upstreamAddr,
		"www.other.example":    upstreamAddr,
	})
	if netip.MustParseAddr(addr).IsLoopback() {
		if err := os.WriteFile("/etc/systemd/resolved.conf", []byte("[Resolve]\nDNS="+addr+"\nLLMNR=no\nMulticastDNS=no\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("systemctl", "restart", "systemd-resolved.service").CombinedOutput(); err != nil {
			t.Fatalf("restarting resolved: %v: %s", err, out)
		}
	} else {
		rd.Resolvectl(t, "dns", "dnsv0", addr)
		rd.Resolvectl(t, "domain", "dnsv0", "lan")
	}
	if got := getent(t, "shop.tickets.example"); got != upstreamAddr {
		t.Fatalf("before activation, through resolved's stub: %s, want the network's %s", got, upstreamAddr)
	}
	return rd, net
}

// resolvedStatus is `resolvectl status` after a lookup of a name outside
// the platform, so that every scope has picked its current server.
func resolvedStatus(t *testing.T, rd *nstest.Resolved) string {
	t.Helper()
	getent(t, "www.other.example")
	return rd.Resolvectl(t, "status")
}

// timedGetent is getent that logs how long it took (a figure for the
// report, never asserted).
func timedGetent(t *testing.T, what, name string) string {
	t.Helper()
	start := time.Now()
	got := getent(t, name)
	t.Logf("%s: getent ahostsv4 %s = %s in %v", what, name, got, time.Since(start).Round(time.Millisecond))
	return got
}

// TestResolvedScopedActivation: scoped activation on the real daemon sends
// the platform's domain to dnspin (pins during an outage through the stub
// 127.0.0.53), a dead dnspin falls back to the network's server, a
// restarted one takes over again, and deactivate leaves resolved's state
// (`resolvectl status`) and /etc exactly as they were.
func TestResolvedScopedActivation(t *testing.T) {
	nstest.Run(t, nstest.Options{PIDNamespace: true}, func(t *testing.T, env *nstest.Env) {
		ctx := context.Background()
		rd, network := resolvedNetwork(t, env, nstest.PeerAddr.String())
		statusBefore := resolvedStatus(t, rd)
		treeBefore := nstest.Tree(t, env.EtcChanges())

		rc := resolverConfig(filepath.Join(env.Dir, "learned"))
		rc.Upstreams = []string{nstest.PeerAddr.String() + ":53"}
		dnspin := spawnResolver(t, env, rc)
		o := options(env)
		c := activate(t, env, scopedPlan)
		snap, err := c.Current(ctx)
		if err != nil || snap.Backend != string(activation.BackendResolved) || !snap.Activated {
			t.Fatalf("Current = %+v, %v; want the systemd-resolved backend, active", snap, err)
		}
		// Only the platform's domain is routed to dnspin's (global) servers:
		// no "~.", and the link keeps its own search domain.
		if got := rd.Resolvectl(t, "domain"); !strings.Contains(got, "Global: ~tickets.example\n") || !strings.Contains(got, "(dnsv0): lan\n") {
			t.Fatalf("resolvectl domain after activation:\n%s\nwant exactly ~tickets.example routed globally, dnsv0 keeping lan", got)
		}
		if got := rd.Resolvectl(t, "dns"); !strings.Contains(got, "Global: 127.0.0.1 "+nstest.PeerAddr.String()) {
			t.Fatalf("resolvectl dns after activation:\n%s\nwant dnspin first, the network's server after it", got)
		}
		sys, err := activation.SystemResolvers(ctx, o, scopedPlan.Resolver)
		if err != nil || len(sys) != 1 || sys[0] != nstest.PeerAddr.String()+":53" {
			t.Fatalf("SystemResolvers = %v, %v; want the network's server only", sys, err)
		}
		if got := timedGetent(t, "active, upstream healthy", "shop.tickets.example"); got != upstreamAddr {
			t.Fatalf("active: %s, want the live answer %s", got, upstreamAddr)
		}

		// The outage: the network's server goes silent. glibc asks the
		// stub, resolved routes the platform's domain to dnspin, dnspin
		// answers with the pin.
		network.SetMode(resolvertest.Drop)
		if got := timedGetent(t, "outage", "shop.tickets.example"); got != pinAddr {
			t.Fatalf("outage: %s, want the pin %s", got, pinAddr)
		}
		network.SetMode(resolvertest.Answer)

		// kill -9: resolved gets "connection refused" from 127.0.0.1 and
		// moves to the next server of the global list at once.
		if err := dnspin.Kill(); err != nil {
			t.Fatal(err)
		}
		logAt := rd.LogSize()
		if got := timedGetent(t, "dnspin killed", "shop.tickets.example"); got != upstreamAddr {
			t.Fatalf("after kill -9: %s, want the network's %s", got, upstreamAddr)
		}
		if l := rd.LogSince(logAt); !strings.Contains(l, "Connection refused") {
			t.Logf("resolved's log after kill -9 has no connection refusal:\n%s", l)
		}

		// The service restarts: the crash journal is restored exactly, the
		// plan applied again, and dnspin is resolved's first server again.
		was, p, err := activation.Recover(ctx, o)
		if err != nil || !was || p == nil || p.Mode != "scoped" {
			t.Fatalf("Recover = %v %+v %v", was, p, err)
		}
		if _, err := os.Lstat(activation.ResolvedDropIn); !os.IsNotExist(err) {
			t.Fatalf("after Recover the drop-in is still there: %v", err)
		}
		spawnResolver(t, env, rc)
		if err := c.Apply(ctx, *p); err != nil {
			t.Fatal(err)
		}
		network.SetMode(resolvertest.Drop)
		if got := timedGetent(t, "restarted, outage", "shop.tickets.example"); got != pinAddr {
			t.Fatalf("restarted dnspin during the outage: %s, want the pin %s", got, pinAddr)
		}
		network.SetMode(resolvertest.Answer)

		if err := c.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		if got := resolvedStatus(t, rd); got != statusBefore {
			t.Fatalf("resolvectl status after deactivate:\n%s\nbefore activation:\n%s", got, statusBefore)
		}
		if d := nstest.TreeDiff(treeBefore, nstest.Tree(t, env.EtcChanges())); len(d) > 0 {
			t.Fatalf("/etc after deactivate differs from before activation (paths in the overlay's upper layer):\n%s", strings.Join(d, "\n"))
		}
		if got := getent(t, "shop.tickets.example"); got != upstreamAddr {
			t.Fatalf("deactivated: %s", got)
		}
	})
}

// TestResolvedOutageOtherNameFirst is the price of that fallback list.
// During an outage a name outside the platform is asked (resolved sends it
// to dnspin too: its global scope is always a default route), dnspin
// answers SERVFAIL, and resolved moves its global scope on to the next
// server, the network's silent one. The platform's names must still get
// their pins: the first lookup after that waits for resolved to give up on
// the silent server (logged, not asserted; docs/platforms.md has the
// figure), the next ones are fast again.
func TestResolvedOutageOtherNameFirst(t *testing.T) {
	nstest.Run(t, nstest.Options{PIDNamespace: true}, func(t *testing.T, env *nstest.Env) {
		ctx := context.Background()
		rd, network := resolvedNetwork(t, env, nstest.PeerAddr.String())
		rc := resolverConfig(filepath.Join(env.Dir, "learned"))
		rc.Upstreams = []string{nstest.PeerAddr.String() + ":53"}
		spawnResolver(t, env, rc)
		activate(t, env, scopedPlan)
		network.SetMode(resolvertest.Drop)
		logAt := rd.LogSize()
		start := time.Now()
		// The name outside the platform is left to fail on its own (with a
		// silent network server that takes resolved up to two minutes);
		// what matters is the moment resolved has moved its global scope
		// off dnspin after dnspin's SERVFAIL.
		qctx, qcancel := context.WithCancel(ctx)
		other := exec.CommandContext(qctx, "resolvectl", "query", "www.other.example")
		if err := other.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { qcancel(); _ = other.Wait() }()
		switched := "Switching to system DNS server " + nstest.PeerAddr.String()
		for !strings.Contains(rd.LogSince(logAt), switched) {
			if time.Since(start) > 60*time.Second {
				t.Fatalf("resolved never moved to the next global server after dnspin's SERVFAIL; its log:\n%s", rd.LogSince(logAt))
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("outage, other name: resolved moved its global scope to %s %v after the query", nstest.PeerAddr, time.Since(start).Round(time.Millisecond))
		t.Logf("%s", rd.Resolvectl(t, "dns"))
		for i := 0; i < 3; i++ {
			if got := timedGetent(t, "outage, platform name after the other name", "shop.tickets.example"); got != pinAddr {
				t.Fatalf("outage, after a failed name outside the platform: %s, want the pin %s", got, pinAddr)
			}
		}
	})
}

// TestResolvedKillWithLoopbackServer: resolved's own server is on
// loopback (DNS=127.0.0.2 in resolved.conf: a local dnsmasq or caching
// resolver). After kill -9 of dnspin, resolved must still move on to it at
// once.
func TestResolvedKillWithLoopbackServer(t *testing.T) {
	nstest.Run(t, nstest.Options{PIDNamespace: true}, func(t *testing.T, env *nstest.Env) {
		ctx := context.Background()
		rd, _ := resolvedNetwork(t, env, "127.0.0.2")
		rc := resolverConfig(filepath.Join(env.Dir, "learned"))
		dnspin := spawnResolver(t, env, rc)
		c := activate(t, env, scopedPlan)
		if got := rd.Resolvectl(t, "dns"); !strings.Contains(got, "Global: 127.0.0.1 127.0.0.2") {
			t.Fatalf("resolvectl dns after activation:\n%s\nwant dnspin first, the local server after it", got)
		}
		if err := dnspin.Kill(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if got := timedGetent(t, "dnspin killed", "shop.tickets.example"); got != upstreamAddr {
				t.Fatalf("after kill -9: %s, want the local server's %s", got, upstreamAddr)
			}
		}
		start := time.Now()
		if out := rd.Resolvectl(t, "query", "www.tickets.example"); !strings.Contains(out, upstreamAddr) {
			t.Fatalf("resolvectl query after kill -9:\n%s\nwant the local server's %s", out, upstreamAddr)
		}
		t.Logf("dnspin killed: resolvectl query www.tickets.example answered in %v", time.Since(start).Round(time.Millisecond))
		if err := c.Restore(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
