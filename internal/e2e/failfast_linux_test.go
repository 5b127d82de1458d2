package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspin/dnspin/installer/activation"
	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// startCounting is a UDP DNS server on listen that answers every A
// question with addr (TTL 0) or, with servfail, SERVFAIL at once (dnspin
// once the outage is declared, before the resolver half of that lands).
// Queries counts what it gets, answered or not; in mode Drop it reads and
// never answers (an original server during the outage); Close closes its
// port, as for a dead dnspin.
func startCounting(t *testing.T, listen string, servfail bool, addr string) *resolvertest.Upstream {
	t.Helper()
	u := resolvertest.StartUpstream(t, resolvertest.UpstreamConfig{Listen: listen, Default: addr})
	if servfail {
		u.SetMode(resolvertest.ServFail)
	}
	return u
}

// portRefuses asserts that a DNS query to addr is refused (ICMP port
// unreachable, ECONNREFUSED on a connected UDP socket): what glibc's
// send_dg sees from a dead dnspin, on which it moves to the next server at
// once instead of waiting out its timeout. The kernel's ICMP rate limit is
// global (shared with every namespace on the machine), so a refusal may be
// dropped now and then: up to 10 queries, 2 s each, are sent.
func portRefuses(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := new(dns.Msg)
	m.SetQuestion("refused.example.", dns.TypeA)
	b, _ := m.Pack()
	for i := 1; ; i++ {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second)) // a hang guard
		if _, err = c.Write(b); err == nil {
			_, err = c.Read(make([]byte, 512))
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || i == 10 {
			t.Fatalf("query %d to %s: %v, want connection refused (port unreachable)", i, addr, err)
		}
		t.Logf("query %d to %s: %v (an ICMP error dropped by the rate limit?); again", i, addr, err)
	}
}

// getentStatus runs `getent DB NAME` as a child process and returns its
// exit code, the addresses and the wall time. The 20 s bound only catches a
// hang (glibc's defaults would need 20 s with a search domain); it is not a
// timing assertion.
func getentStatus(t *testing.T, db, name string) (code int, addrs []string, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	a, err := nstest.Getent(ctx, db, name)
	took = time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("getent %s %s hung until the 20 s bound (resolv.conf %q)", db, name, nstest.ReadResolvConf(t))
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	for _, x := range a {
		addrs = append(addrs, x.String())
	}
	return code, addrs, took
}

// getentAnswers asks until getent returns want, at most 5 times. glibc now
// waits only 1 s for each server; on a loaded machine (2 shared cores, -race)
// a live server can miss that once, which is not what these tests are about.
func getentAnswers(t *testing.T, db, name, want string) {
	t.Helper()
	for i := 1; ; i++ {
		code, addrs, took := getentStatus(t, db, name)
		t.Logf("getent %s %s: exit %d %v after %v", db, name, code, addrs, took.Round(time.Millisecond))
		if code == 0 && len(addrs) == 1 && addrs[0] == want {
			return
		}
		if i == 5 {
			t.Fatalf("getent %s %s: exit %d %v, want %s", db, name, code, addrs, want)
		}
	}
}

// checkFailFastConf asserts dnspin's resolv.conf: dnspin, one original,
// the original search and options lines, and the fast-failure options last.
func checkFailFastConf(t *testing.T, wantNS []string, search string) {
	t.Helper()
	conf := string(nstest.ReadResolvConf(t))
	if got := activation.ParseNameservers([]byte(conf)); !slices.Equal(got, wantNS) {
		t.Fatalf("activated resolv.conf lists %v, want %v:\n%s", got, wantNS, conf)
	}
	if !strings.HasSuffix(conf, "\noptions timeout:1 attempts:1\n") || !strings.Contains(conf, "\noptions edns0\n") {
		t.Fatalf("activated resolv.conf lacks the fast-failure options or lost edns0:\n%s", conf)
	}
	if search != "" && !strings.Contains(conf, "\n"+search+"\n") {
		t.Fatalf("activated resolv.conf lost %q:\n%s", search, conf)
	}
}

// TestFailFast: during an outage dnspin answers SERVFAIL and the original
// servers listed after it are dark. With the options activation writes,
// glibc asks the one listed original once per name tried and gives up, so
// getent fails within seconds instead of 10 s (20 s with a search domain);
// a dead dnspin is skipped and the original answers; deactivate and crash
// recovery put the original file back byte for byte. For the direct
// backend's file shapes: plain, bind-mounted (containers), symlinked
// (NetworkManager's file while NetworkManager is not running; the
// networkmanager backend writes the same file).
func TestFailFast(t *testing.T) {
	for _, tc := range []struct {
		name   string
		search string
		opts   nstest.Options
	}{
		{name: "plain"},
		{name: "search", search: "search lan"},
		{name: "bindmount", search: "search lan corp.example", opts: nstest.Options{BindMountResolvConf: true}},
		{name: "symlink", search: "search lan", opts: nstest.Options{Symlink: "/run/NetworkManager/resolv.conf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.ResolvConf = "# from DHCP\nnameserver 127.0.0.2\nnameserver 127.0.0.3\n"
			if tc.search != "" {
				o.ResolvConf += tc.search + "\n"
			}
			o.ResolvConf += "options edns0 attempts:3\n"
			nstest.Run(t, o, func(t *testing.T, env *nstest.Env) {
				failFastBody(t, env, tc.search)
			})
		})
	}
}

func failFastBody(t *testing.T, env *nstest.Env, search string) {
	ctx := context.Background()
	before := stateOf(t, nstest.ResolvConfPath)
	orig1 := startCounting(t, "127.0.0.2:53", false, upstreamAddr)
	orig2 := startCounting(t, "127.0.0.3:53", false, upstreamAddr)
	orig1.SetMode(resolvertest.Drop)
	orig2.SetMode(resolvertest.Drop)
	dnspin := startCounting(t, "127.0.0.1:53", true, "")

	o := options(env)
	c := activate(t, env, plan)
	checkFailFastConf(t, []string{"127.0.0.1", "127.0.0.2"}, search)

	// Every name glibc tries: the name itself, then one per search domain.
	tried := int64(1 + max(0, len(strings.Fields(search))-1))
	for _, db := range []string{"ahosts", "ahostsv4"} {
		perName := int64(2) // A and AAAA, sent together
		if db == "ahostsv4" {
			perName = 1
		}
		dnspin.ResetQueries()
		orig1.ResetQueries()
		orig2.ResetQueries()
		code, addrs, took := getentStatus(t, db, "www.example.org")
		t.Logf("outage, %q, %d name(s) tried: getent %s exit %d after %v; dnspin answered %d SERVFAIL, the dark original got %d queries",
			search, tried, db, code, took.Round(time.Millisecond), dnspin.Queries(), orig1.Queries())
		if code != 2 || len(addrs) != 0 {
			t.Fatalf("getent %s during the outage: exit %d %v, want 2 (not found)", db, code, addrs)
		}
		// attempts:1: dnspin and the one listed original are each asked
		// once per name tried; the second original is not listed at all.
		if n := dnspin.Queries(); n < tried || n > perName*tried {
			t.Errorf("%s: dnspin got %d queries, want %d..%d", db, n, tried, perName*tried)
		}
		if n := orig1.Queries(); n < 1 || n > perName*tried {
			t.Errorf("%s: the listed dark original got %d queries, want 1..%d (one try per name)", db, n, perName*tried)
		}
		if n := orig2.Queries(); n != 0 {
			t.Errorf("%s: the unlisted original got %d queries", db, n)
		}
	}

	// dnspin dead (its port closed: ICMP port unreachable), the original
	// back: glibc moves on at once and the original answers.
	dnspin.Close()
	portRefuses(t, "127.0.0.1:53")
	orig1.SetMode(resolvertest.Answer)
	t.Logf("dead dnspin, %q:", search)
	getentAnswers(t, "ahosts", "www.example.org", upstreamAddr)

	// Crash recovery from the journal, then a normal deactivate: both
	// exact.
	was, p, err := activation.Recover(ctx, o)
	if err != nil || !was || p == nil {
		t.Fatalf("Recover = %v %+v %v", was, p, err)
	}
	sameState(t, "after Recover", stateOf(t, nstest.ResolvConfPath), before)
	if err := c.Apply(ctx, *p); err != nil {
		t.Fatal(err)
	}
	checkFailFastConf(t, []string{"127.0.0.1", "127.0.0.2"}, search)
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	sameState(t, "after deactivate", stateOf(t, nstest.ResolvConfPath), before)
}

// TestFailFastRealResolver: the real resolver in front, its upstream and
// the original server both dark, a search domain. The pinned name still
// resolves through glibc; an unprotected never-seen name fails with the
// dark original asked once per name tried. The wall time is logged: with
// the resolver's SERVFAIL after client_timeout (300 ms here) it is about
// 1 s per name tried; a client_timeout above glibc's 1 s timeout makes
// glibc give up on dnspin first, which costs 1 s more per name.
func TestFailFastRealResolver(t *testing.T) {
	orig := "nameserver 127.0.0.2\nsearch lan\noptions edns0\n"
	nstest.Run(t, nstest.Options{ResolvConf: orig}, func(t *testing.T, env *nstest.Env) {
		ctx := context.Background()
		before := stateOf(t, nstest.ResolvConfPath)
		original := startCounting(t, "127.0.0.2:53", false, upstreamAddr)
		original.SetMode(resolvertest.Drop)
		up := startCounting(t, "127.0.0.4:53", false, upstreamAddr) // dnspin's upstream, apart so the counts stay apart
		up.SetMode(resolvertest.Drop)
		cfg := resolverConfig(filepath.Join(env.Dir, "learned"))
		cfg.Upstreams = []string{"127.0.0.4:53"}
		spawnResolver(t, env, cfg)

		c := activate(t, env, activation.Plan{Mode: "full", Domains: cfg.Domains, Resolver: listenStrings(cfg)})
		checkFailFastConf(t, []string{"127.0.0.1", "127.0.0.2"}, "search lan")

		t.Log("outage, pinned name:")
		getentAnswers(t, "ahostsv4", "shop.tickets.example", pinAddr)
		for i, name := range []string{"new1.other.example", "new2.other.example"} {
			original.ResetQueries()
			code, addrs, took := getentStatus(t, "ahosts", name)
			t.Logf("outage, unprotected name %d: getent ahosts exit %d after %v; the dark original got %d queries",
				i+1, code, took.Round(time.Millisecond), original.Queries())
			if code != 2 || len(addrs) != 0 {
				t.Fatalf("%s in the outage: exit %d %v, want 2 (not found)", name, code, addrs)
			}
			if n := original.Queries(); n < 1 || n > 4 { // A+AAAA for the name and for name.lan
				t.Errorf("%s: the dark original got %d queries, want 1..4", name, n)
			}
		}
		if err := c.Restore(ctx); err != nil {
			t.Fatal(err)
		}
		sameState(t, "after deactivate", stateOf(t, nstest.ResolvConfPath), before)
	})
}

// fileSnapshot is a file's state, or "absent".
func fileSnapshot(t *testing.T, path string) string {
	t.Helper()
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return "absent"
	}
	s := stateOf(t, path)
	return fmt.Sprintf("%v %d:%d link=%q %q", s.mode, s.uid, s.gid, s.link, s.data)
}

// lastOption is the value glibc uses for key ("timeout:"): the last one of
// all options lines.
func lastOption(conf, key string) string {
	v := ""
	for _, line := range strings.Split(conf, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "options" {
			continue
		}
		for _, o := range f[1:] {
			if x, ok := strings.CutPrefix(o, key); ok {
				v = x
			}
		}
	}
	return v
}

// TestFailFastResolvconf: the resolvconf backend against the real Debian
// resolvconf and openresolv (their packages' files unpacked into the
// namespace), which generate resolv.conf from an interface record (two
// original servers, search lan). They list the interface's servers after
// dnspin's two addresses themselves; glibc reads three, so it asks only the
// first original, once per name tried; dnspin's options win; a dead dnspin
// falls back to the original (for openresolv only with
// resolv_conf_local_only=NO); deactivate and crash recovery give back the
// same files and the same generated resolv.conf.
func TestFailFastResolvconf(t *testing.T) {
	for _, flavour := range []string{"resolvconf", "openresolv"} {
		t.Run(flavour, func(t *testing.T) {
			deb := nstest.FindDeb(t, flavour)
			o := nstest.Options{ResolvConf: "# before resolvconf ran\n"}
			if flavour == "resolvconf" {
				o.Symlink = "/run/resolvconf/resolv.conf" // as the package's postinst sets it up
			}
			nstest.Run(t, o, func(t *testing.T, env *nstest.Env) {
				resolvconfBody(t, env, flavour, deb)
			})
		})
	}
}

func resolvconfBody(t *testing.T, env *nstest.Env, flavour, deb string) {
	ctx := context.Background()
	env.InstallDeb(t, deb)
	t.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
	// This host's other resolvconf hooks (dnsmasq, unbound) stay out; for
	// openresolv, Debian resolvconf's directory too (it would be taken for
	// that flavour).
	files := []string{activation.OpenresolvConf}
	if flavour == "resolvconf" {
		hooks, _ := filepath.Glob("/etc/resolvconf/update.d/*")
		for _, h := range hooks {
			if filepath.Base(h) != "libc" {
				if err := os.Remove(h); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.WriteFile("/run/resolvconf/enable-updates", nil, 0o644); err != nil {
			t.Fatal(err)
		}
		files = []string{activation.ResolvconfHead, activation.ResolvconfTail}
	} else if err := os.RemoveAll("/etc/resolvconf"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/resolvconf/interface", 0o755); err != nil {
		t.Fatal(err)
	}
	// The originals are on the namespace's veth side, not loopback: both
	// flavours cut the list after a loopback server by default.
	const o1, o2 = "198.18.254.2", "198.18.254.3"
	for _, a := range []string{o1, o2} {
		if out, err := exec.Command("ip", "addr", "add", a+"/32", "dev", "dnsv0").CombinedOutput(); err != nil {
			t.Fatalf("ip addr add %s: %v: %s", a, err, out)
		}
	}
	add := exec.Command("resolvconf", "-a", "dnsv0.dhclient")
	add.Stdin = strings.NewReader("nameserver " + o1 + "\nnameserver " + o2 + "\nsearch lan\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("resolvconf -a: %v: %s", err, out)
	}
	if got := activation.ParseNameservers(nstest.ReadResolvConf(t)); !slices.Equal(got, []string{o1, o2}) {
		t.Fatalf("%s generated %v from the interface record:\n%s", flavour, got, nstest.ReadResolvConf(t))
	}
	snapshot := func() string {
		var sb strings.Builder
		for _, f := range append([]string{nstest.ResolvConfPath}, files...) {
			sb.WriteString(f + ": " + fileSnapshot(t, f) + "\n")
		}
		return sb.String()
	}
	before := snapshot()

	orig1 := startCounting(t, o1+":53", false, upstreamAddr)
	orig2 := startCounting(t, o2+":53", false, upstreamAddr)
	orig1.SetMode(resolvertest.Drop)
	orig2.SetMode(resolvertest.Drop)
	dnspin := startCounting(t, "127.0.0.1:53", true, "")
	dnspin6 := startCounting(t, "[::1]:53", true, "")
	// dnspin's default listen: both loopback addresses.
	plan := activation.Plan{Mode: "full", Domains: plan.Domains, Resolver: []string{"127.0.0.1:53", "[::1]:53"}}

	o := options(env)
	c, err := activation.NewConfigurator(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	checkActive := func() {
		t.Helper()
		if err := c.Apply(ctx, plan); err != nil {
			t.Fatal(err)
		}
		if s, err := c.Current(ctx); err != nil || s.Backend != "resolvconf" {
			t.Fatalf("backend %q (%v), want resolvconf", s.Backend, err)
		}
		conf := string(nstest.ReadResolvConf(t))
		if got := activation.ParseNameservers([]byte(conf)); !slices.Equal(got, []string{"127.0.0.1", "::1", o1, o2}) {
			t.Fatalf("%s generated %v while active, want dnspin's two addresses then both originals (glibc reads three):\n%s", flavour, got, conf)
		}
		if lastOption(conf, "timeout:") != "1" || lastOption(conf, "attempts:") != "1" {
			t.Fatalf("%s: glibc would not use timeout:1 attempts:1 from:\n%s", flavour, conf)
		}
	}
	checkActive()

	code, addrs, took := getentStatus(t, "ahosts", "www.example.org")
	t.Logf("%s, outage, search lan: getent ahosts exit %d after %v; dnspin answered %d+%d SERVFAIL, the dark originals got %d and %d queries",
		flavour, code, took.Round(time.Millisecond), dnspin.Queries(), dnspin6.Queries(), orig1.Queries(), orig2.Queries())
	if code != 2 || len(addrs) != 0 {
		t.Fatalf("getent during the outage: exit %d %v, want 2", code, addrs)
	}
	if n := orig1.Queries(); n < 1 || n > 4 { // A+AAAA, once, for the name and name.lan
		t.Errorf("the first original got %d queries, want 1..4 (one try per name)", n)
	}
	if n := orig2.Queries(); n != 0 {
		t.Errorf("the second original got %d queries; glibc should read only dnspin's two addresses and the first original", n)
	}

	dnspin.Close()
	dnspin6.Close()
	portRefuses(t, "127.0.0.1:53")
	portRefuses(t, "[::1]:53")
	orig1.SetMode(resolvertest.Answer)
	t.Logf("%s, dead dnspin:", flavour)
	getentAnswers(t, "ahosts", "www.example.org", upstreamAddr)

	was, p, err := activation.Recover(ctx, o)
	if err != nil || !was || p == nil {
		t.Fatalf("Recover = %v %+v %v", was, p, err)
	}
	if after := snapshot(); after != before {
		t.Fatalf("after Recover:\n%s\nwant:\n%s", after, before)
	}
	checkActive()
	if err := c.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(); after != before {
		t.Fatalf("after deactivate:\n%s\nwant:\n%s", after, before)
	}
}
