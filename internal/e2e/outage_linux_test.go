package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/resolver"
	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// startUpstream is the network's server on listen: A answers from answers
// (other names NXDOMAIN) with TTL 0, so nothing is cached and every query
// asks; SetMode(resolvertest.Drop) makes it silent, like a server under a
// denial-of-service attack.
func startUpstream(t *testing.T, listen string, answers map[string]string) *resolvertest.Upstream {
	t.Helper()
	return resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{Listen: listen, Answers: answers})
}

// listenStrings are cfg's listen addresses as an activation plan names them.
func listenStrings(cfg resolver.Config) []string {
	var out []string
	for _, ap := range cfg.Listen {
		out = append(out, ap.String())
	}
	return out
}

// resolverConfig is the real resolver as the e2e tests run it: fast
// budgets so an outage shows within a second.
func resolverConfig(stateDir string) resolver.Config {
	return resolver.Config{
		Listen:        []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53")},
		Upstreams:     []string{"127.0.0.2:53"},
		Domains:       []string{"tickets.example"},
		Pins:          []resolver.Pin{{Name: "shop.tickets.example", A: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}},
		Mode:          resolver.ModeAuto,
		AnswerBudget:  200 * time.Millisecond,
		ClientTimeout: 300 * time.Millisecond,
		ProbeInterval: 100 * time.Millisecond,
		RecoverAfter:  1,
		StateDir:      stateDir,
	}
}

// runResolver is the "resolver" helper: the real resolver in its own
// process (so the test can kill -9 it), configured by a JSON argument.
func runResolver(args []string) int {
	var cfg resolver.Config
	if err := json.Unmarshal([]byte(args[0]), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r, err := resolver.New(cfg, resolver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := r.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(nstest.Ready)
	select {}
}

// lookupFails asserts the name does not resolve through glibc (dnspin's
// SERVFAIL, then the silent original server's 1 s timeout from the original
// "options timeout:1 attempts:1"). The 20 s bound only catches a hang; it is
// not a timing assertion.
func lookupFails(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if a, err := nstest.Getent(ctx, "ahostsv4", name); err == nil {
		t.Fatalf("%s resolved to %v during the outage", name, a)
	} else if ctx.Err() != nil {
		t.Fatalf("%s: getent hung until the bound: %v", name, err)
	}
}

// getentLive waits for the live answer want through the system path. With
// upstream healthy the only other answer allowed is the pin: the spec's
// fallback when the live answer misses answer_budget, which a loaded machine
// can make happen (200 ms here). Anything else fails at once; the pin is
// retried for up to 20 s.
func getentLive(t *testing.T, name, want, pin string) string {
	t.Helper()
	stop := time.Now().Add(20 * time.Second)
	for {
		got := getent(t, name)
		if got != pin || time.Now().After(stop) {
			return got
		}
		t.Logf("%s: the pin %s (live answer missed answer_budget); asking again", name, got)
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRealResolverOutage: the real resolver behind the real system path.
// Upstream goes dark → protected names still resolve via pins, others fail
// fast; upstream back → live answers again; kill -9 → the original server
// answers; deactivate → exact.
func TestRealResolverOutage(t *testing.T) {
	orig := "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n"
	nstest.Run(t, nstest.Options{ResolvConf: orig}, func(t *testing.T, env *nstest.Env) {
		ctx := context.Background()
		before := stateOf(t, nstest.ResolvConfPath)
		up := startUpstream(t, "127.0.0.2:53", map[string]string{
			"shop.tickets.example": "198.51.100.20",
			"www.other.example":    "198.51.100.21",
			"new1.other.example":   "198.51.100.22",
			"new2.other.example":   "198.51.100.23",
		})
		cfg := resolverConfig(filepath.Join(env.Dir, "learned"))
		dnspin := spawnResolver(t, env, cfg)

		o := options(env)
		c := activate(t, env, activation.Plan{Mode: "full", Domains: cfg.Domains, Resolver: listenStrings(cfg)})
		if got := getentLive(t, "shop.tickets.example", "198.51.100.20", "192.0.2.10"); got != "198.51.100.20" {
			t.Fatalf("live: %s", got)
		}
		if got := getent(t, "www.other.example"); got != "198.51.100.21" {
			t.Fatalf("live, unprotected: %s", got)
		}

		up.SetMode(resolvertest.Drop)
		for range 3 { // stays answerable, from the pin, while upstream is dark
			if got := getent(t, "shop.tickets.example"); got != "192.0.2.10" {
				t.Fatalf("outage: shop.tickets.example = %s, want the pin 192.0.2.10", got)
			}
		}
		lookupFails(t, "new1.other.example")
		m := new(dns.Msg)
		m.SetQuestion("new2.other.example.", dns.TypeA)
		// A silent dnspin makes this time out; the bound is generous for a
		// loaded machine (dnspin answers after client_timeout, 300 ms).
		r, _, err := (&dns.Client{Timeout: 10 * time.Second}).Exchange(m, "127.0.0.1:53")
		if err != nil || r.Rcode != dns.RcodeServerFailure {
			t.Fatalf("dnspin for an unprotected name in the outage: %v %v, want a SERVFAIL, not silence", r, err)
		}

		up.SetMode(resolvertest.Answer)
		live := false
		for i := 0; i < 100 && !live; i++ { // bounded: 100 tries, ~10 s
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			a, err := nstest.Getent(ctx, "ahostsv4", "shop.tickets.example")
			cancel()
			live = err == nil && len(a) == 1 && a[0].String() == "198.51.100.20"
			if !live {
				<-time.After(100 * time.Millisecond)
			}
		}
		if !live {
			t.Fatal("upstream is back but shop.tickets.example never got its live answer again")
		}

		if err := dnspin.Kill(); err != nil {
			t.Fatal(err)
		}
		if got := getent(t, "www.other.example"); got != "198.51.100.21" {
			t.Fatalf("after kill -9: %s", got)
		}
		was, p, err := activation.Recover(ctx, o)
		if err != nil || !was || p == nil {
			t.Fatalf("Recover = %v %v %v", was, p, err)
		}
		sameState(t, "after Recover", stateOf(t, nstest.ResolvConfPath), before)
		spawnResolver(t, env, cfg)
		if err := c.Apply(ctx, *p); err != nil {
			t.Fatal(err)
		}
		if got := getentLive(t, "shop.tickets.example", "198.51.100.20", "192.0.2.10"); got != "198.51.100.20" {
			t.Fatalf("after restart: %s", got)
		}
		if err := c.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		sameState(t, "after deactivate", stateOf(t, nstest.ResolvConfPath), before)
	})
}
