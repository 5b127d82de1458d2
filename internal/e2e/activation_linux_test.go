package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/resolver"
)

func TestMain(m *testing.M) {
	nstest.Main(m, map[string]func(args []string) int{
		"resolver": runResolver,
		// fixed-answer: a DNS server on args[0] answering every A question
		// with args[1]; stands in for a resolver process that can be killed.
		"fixed-answer": func(args []string) int {
			stop, err := fixedServer(args[0], args[1])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer stop()
			fmt.Println(nstest.Ready)
			select {}
		},
	})
}

// fixedServer answers every A question with addr on UDP and TCP at listen.
func fixedServer(listen, addr string) (stop func(), err error) {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA {
			q := r.Question[0]
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.ParseIP(addr)})
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		pc.Close()
		return nil, err
	}
	var servers []*dns.Server
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		servers = append(servers, s)
	}
	return func() {
		for _, s := range servers {
			_ = s.Shutdown()
		}
	}, nil
}

const (
	upstreamAddr = "198.51.100.2" // what the original nameserver answers
	dnspinAddr   = "203.0.113.1"  // what the stand-in for dnspin answers
	pinAddr      = "192.0.2.10"   // the pin of shop.tickets.example in resolverConfig
)

func getent(t *testing.T, name string) string {
	t.Helper()
	// A hang guard, not a timing assertion: which server answered shows in
	// the address. Where the speed of a fallback is the claim, the test
	// checks that dnspin's port refuses (portRefuses): glibc moves on at
	// once on that, instead of waiting out its timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := nstest.Getent(ctx, "ahostsv4", name)
	if err != nil {
		t.Fatalf("%v (resolv.conf: %q)", err, nstest.ReadResolvConf(t))
	}
	if len(a) != 1 {
		t.Fatalf("getent ahostsv4 %s = %v, want one address", name, a)
	}
	return a[0].String()
}

type fileState struct {
	data []byte
	mode os.FileMode
	uid  int
	gid  int
	link string
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	var s fileState
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	s.mode = fi.Mode()
	s.uid, s.gid, _ = activation.OSFS{}.Owner(path)
	if fi.Mode()&os.ModeSymlink != 0 {
		s.link, _ = os.Readlink(path)
	}
	s.data, _ = os.ReadFile(path)
	return s
}

func sameState(t *testing.T, what string, got, want fileState) {
	t.Helper()
	if !bytes.Equal(got.data, want.data) || got.mode != want.mode || got.uid != want.uid || got.gid != want.gid || got.link != want.link {
		t.Fatalf("%s: resolv.conf not restored exactly:\n got  %+v (%q)\n want %+v (%q)", what, got, got.data, want, want.data)
	}
}

func options(env *nstest.Env) activation.Options {
	return activation.Options{StateDir: filepath.Join(env.Dir, "state")}
}

// spawnResolver runs the real resolver with rc in its own process (so the
// test can kill -9 it) through the "resolver" helper.
func spawnResolver(t *testing.T, env *nstest.Env, rc resolver.Config) *nstest.Process {
	t.Helper()
	b, err := json.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	return env.Spawn(t, "resolver", string(b))
}

// activate applies p with the configurator this namespace's /etc selects,
// the state kept under env.Dir, and returns the configurator.
func activate(t *testing.T, env *nstest.Env, p activation.Plan) activation.Configurator {
	t.Helper()
	ctx := context.Background()
	c, err := activation.NewConfigurator(ctx, options(env))
	if err != nil {
		t.Fatalf("choosing the configurator: %v", err)
	}
	if err := c.Apply(ctx, p); err != nil {
		t.Fatalf("activating %+v: %v", p, err)
	}
	return c
}

var plan = activation.Plan{Mode: "full", Domains: []string{"tickets.example"}, Resolver: []string{"127.0.0.1:53"}}

// TestActivateKillRestartDeactivate walks the promise: activate, names go
// through dnspin; kill -9 dnspin, names still resolve via the original
// server at once; a restart finds the journal; deactivate is exact.
func TestActivateKillRestartDeactivate(t *testing.T) {
	// timeout:30 is the administrator's; activation writes timeout:1 over
	// it (failfast_linux_test.go) and deactivate puts it back.
	orig := "# written by hand\nsearch lan\nnameserver 127.0.0.2\noptions edns0 timeout:30\n"
	nstest.Run(t, nstest.Options{ResolvConf: orig, ResolvConfMode: 0o640}, func(t *testing.T, env *nstest.Env) {
		ctx := context.Background()
		if err := os.Lchown(nstest.ResolvConfPath, 0, 4); err != nil { // like root:adm
			t.Fatal(err)
		}
		before := stateOf(t, nstest.ResolvConfPath)
		stopUp, err := fixedServer("127.0.0.2:53", upstreamAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer stopUp()
		if got := getent(t, "shop.tickets.example"); got != upstreamAddr {
			t.Fatalf("before activation: %s", got)
		}

		// The real resolver in pinned mode: a protected name answered with
		// its pin proves the query went through dnspin.
		rc := resolverConfig(filepath.Join(env.Dir, "learned"))
		rc.Mode = resolver.ModePinned
		dnspin := spawnResolver(t, env, rc)
		o := options(env)
		c := activate(t, env, plan)
		if got := getent(t, "shop.tickets.example"); got != pinAddr {
			t.Fatalf("activated: shop.tickets.example resolved to %s, want dnspin's pin %s", got, pinAddr)
		}
		if got := getent(t, "www.other.example"); got != upstreamAddr {
			t.Fatalf("activated: www.other.example resolved to %s, want the forwarded %s", got, upstreamAddr)
		}

		// kill -9: glibc gets ICMP port unreachable from 127.0.0.1 and asks
		// the original server next at once (a silent dnspin would cost
		// the 1 s timeout activation writes).
		if err := dnspin.Kill(); err != nil {
			t.Fatal(err)
		}
		portRefuses(t, "127.0.0.1:53")
		if got := getent(t, "shop.tickets.example"); got != upstreamAddr {
			t.Fatalf("after kill -9: %s, want the original server's %s", got, upstreamAddr)
		}

		// Restart: the journal from the "crashed" run is found, the
		// original restored exactly, and the plan handed back.
		was, p, err := activation.Recover(ctx, o)
		if err != nil || !was || p == nil || p.Mode != "full" {
			t.Fatalf("Recover = %v %+v %v", was, p, err)
		}
		sameState(t, "after Recover", stateOf(t, nstest.ResolvConfPath), before)
		spawnResolver(t, env, rc)
		if err := c.Apply(ctx, *p); err != nil {
			t.Fatal(err)
		}
		if got := getent(t, "shop.tickets.example"); got != pinAddr {
			t.Fatalf("re-applied: %s", got)
		}
		if err := c.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		sameState(t, "after deactivate", stateOf(t, nstest.ResolvConfPath), before)
		if got := getent(t, "shop.tickets.example"); got != upstreamAddr {
			t.Fatalf("deactivated: %s", got)
		}
	})
}

// TestRewrittenBehindOurBack: a DHCP client replaces resolv.conf while
// dnspin is active; Reassert puts dnspin back in front and deactivate
// restores the NEW original.
func TestRewrittenBehindOurBack(t *testing.T) {
	nstest.Run(t, nstest.Options{ResolvConf: "nameserver 127.0.0.2\n"}, func(t *testing.T, env *nstest.Env) {
		ctx := context.Background()
		stopNew, err := fixedServer("127.0.0.3:53", "198.51.100.3")
		if err != nil {
			t.Fatal(err)
		}
		defer stopNew()
		env.Spawn(t, "fixed-answer", "127.0.0.1:53", dnspinAddr)
		o := options(env)
		c := activate(t, env, plan)
		newOrig := "# Generated by dhclient\nnameserver 127.0.0.3\n"
		nstest.WriteResolvConfBehindBack(t, newOrig, 0o644)
		newState := stateOf(t, nstest.ResolvConfPath)
		if got := getent(t, "shop.tickets.example"); got != "198.51.100.3" {
			t.Fatalf("after the rewrite, before Reassert: %s", got)
		}
		changed, err := c.(activation.Reasserter).Reassert(ctx)
		if err != nil || !changed {
			t.Fatalf("Reassert = %v, %v", changed, err)
		}
		if got := getent(t, "shop.tickets.example"); got != dnspinAddr {
			t.Fatalf("after Reassert: %s", got)
		}
		sys, err := activation.SystemResolvers(ctx, o, plan.Resolver)
		if err != nil || len(sys) != 1 || sys[0] != "127.0.0.3:53" {
			t.Fatalf("SystemResolvers = %v %v, want the new original", sys, err)
		}
		if changed, err := c.(activation.Reasserter).Reassert(ctx); changed || err != nil {
			t.Fatalf("second Reassert = %v %v, want no change", changed, err)
		}
		if err := c.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		sameState(t, "deactivate after rewrite", stateOf(t, nstest.ResolvConfPath), newState)
	})
}

// TestBindMountedResolvConf: in containers resolv.conf is a bind mount and
// cannot be replaced by rename; activation writes it in place.
func TestBindMountedResolvConf(t *testing.T) {
	nstest.Run(t, nstest.Options{ResolvConf: "nameserver 127.0.0.2\n", ResolvConfMode: 0o644, BindMountResolvConf: true}, func(t *testing.T, env *nstest.Env) {
		ctx := context.Background()
		before := stateOf(t, nstest.ResolvConfPath)
		env.Spawn(t, "fixed-answer", "127.0.0.1:53", dnspinAddr)
		c := activate(t, env, plan)
		if got := getent(t, "a.example"); got != dnspinAddr {
			t.Fatalf("activated: %s", got)
		}
		if err := c.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		sameState(t, "bind mount", stateOf(t, nstest.ResolvConfPath), before)
	})
}

// TestSymlinkedResolvConfRestored: a resolv.conf symlink (NetworkManager or
// resolved not running) is replaced while active and comes back as the
// same symlink. When its manager updates the target (a new network), the
// fallback servers in dnspin's file follow, so a kill -9 still falls back
// to servers that answer.
func TestSymlinkedResolvConfRestored(t *testing.T) {
	const target = "/run/NetworkManager/resolv.conf"
	nstest.Run(t, nstest.Options{ResolvConf: "nameserver 127.0.0.2\n", Symlink: target}, func(t *testing.T, env *nstest.Env) {
		ctx := context.Background()
		before := stateOf(t, nstest.ResolvConfPath)
		stopNew, err := fixedServer("127.0.0.3:53", "198.51.100.3")
		if err != nil {
			t.Fatal(err)
		}
		defer stopNew()
		dnspin := env.Spawn(t, "fixed-answer", "127.0.0.1:53", dnspinAddr)
		c := activate(t, env, plan)
		if got := getent(t, "a.example"); got != dnspinAddr {
			t.Fatalf("activated: %s", got)
		}
		newNet := "# Generated by NetworkManager\nnameserver 127.0.0.3\n"
		if err := os.WriteFile(target, []byte(newNet), 0o644); err != nil {
			t.Fatal(err)
		}
		if changed, err := c.(activation.Reasserter).Reassert(ctx); err != nil || !changed {
			t.Fatalf("Reassert after the target changed = %v %v", changed, err)
		}
		if err := dnspin.Kill(); err != nil {
			t.Fatal(err)
		}
		if got := getent(t, "a.example"); got != "198.51.100.3" {
			t.Fatalf("after kill -9 on the new network: %s, want the new network's server", got)
		}
		if err := c.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		after := stateOf(t, nstest.ResolvConfPath)
		before.data = []byte(newNet) // the symlink is back; its target is NetworkManager's current file
		sameState(t, "symlink", after, before)
	})
}

// TestWatcherReapplies: the watcher loop the service runs notices the
// rewrite on its next tick.
func TestWatcherReapplies(t *testing.T) {
	nstest.Run(t, nstest.Options{ResolvConf: "nameserver 127.0.0.2\n"}, func(t *testing.T, env *nstest.Env) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		env.Spawn(t, "fixed-answer", "127.0.0.1:53", dnspinAddr)
		c := activate(t, env, plan)
		tick := make(chan time.Time)
		type outcome struct {
			changed bool
			err     error
		}
		results := make(chan outcome)
		go activation.Watch(ctx, c.(activation.Reasserter), tick, func(ch bool, err error) { results <- outcome{ch, err} })
		tick <- time.Time{}
		if r := <-results; r.changed || r.err != nil {
			t.Fatalf("tick on an intact file: %+v", r)
		}
		nstest.WriteResolvConfBehindBack(t, "nameserver 127.0.0.3\n", 0o644)
		tick <- time.Time{}
		if r := <-results; !r.changed || r.err != nil {
			t.Fatalf("tick after the rewrite: %+v", r)
		}
		if got := getent(t, "x.example"); got != dnspinAddr {
			t.Fatalf("after the watcher: %s", got)
		}
		if err := c.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		if got := string(nstest.ReadResolvConf(t)); got != "nameserver 127.0.0.3\n" {
			t.Fatalf("restored %q", got)
		}
	})
}
