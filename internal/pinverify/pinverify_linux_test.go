package pinverify

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/nstest"
	"github.com/dnspin/dnspin/internal/pinverify/pinverifytest"
	"github.com/dnspin/dnspin/resolver"
	"github.com/dnspin/dnspin/resolver/resolvertest"
)

// TestVerifyPinsOnPort443 runs real HTTPS servers on port 443 of pinned
// addresses inside a network namespace: one with a certificate for the
// pinned name, one with a certificate for another name, one that accepts
// and never answers, and one address with nothing listening. Each must end
// in the right state, and the resolver must answer the pin's addresses in
// the order the states give.
func TestVerifyPinsOnPort443(t *testing.T) {
	nstest.Run(t, nstest.Options{}, func(t *testing.T, env *nstest.Env) {
		// 127.0.0.11 genuine, .12 an impostor, .13 silent; on 127.0.0.14
		// nothing listens, the connection is refused.
		ca := pinverifytest.ServeScene(t, "box.tickets.test").CA

		a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
		pins := []resolver.Pin{
			{Name: "box.tickets.test", A: []netip.Addr{a("127.0.0.14"), a("127.0.0.13"), a("127.0.0.12"), a("127.0.0.11")}},
			{Name: "down.tickets.test", A: []netip.Addr{a("127.0.0.12"), a("127.0.0.14")}},
			{Name: "*.cdn.tickets.test", A: []netip.Addr{a("127.0.0.11")}},
		}
		when := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
		var dialed []string
		o := Options{
			Roots: ca.Pool(),
			Now:   func() time.Time { return when },
			// A generous timeout for servers that answer: the machine may be
			// loaded. The silent server is checked apart with a short one.
			Timeout:     time.Minute,
			Concurrency: 1, // so the dial log needs no lock
		}
		o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed = append(dialed, addr)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		var answering, silent []Target
		for _, tg := range Targets(pins) {
			if tg.Addr == a("127.0.0.13") {
				silent = append(silent, tg)
			} else {
				answering = append(answering, tg)
			}
		}
		res := Verify(context.Background(), answering, o)
		o.Timeout = time.Second // it never answers, so any timeout ends it the same way
		res = append(res, Verify(context.Background(), silent, o)...)

		want := map[Target]struct {
			state State
			err   string
		}{
			{"box.tickets.test", a("127.0.0.11")}:  {Verified, ""},
			{"box.tickets.test", a("127.0.0.12")}:  {Failed, "certificate is valid for other.example, not box.tickets.test"},
			{"box.tickets.test", a("127.0.0.13")}:  {Failed, "no answer within 1s"},
			{"box.tickets.test", a("127.0.0.14")}:  {Failed, "connection refused"},
			{"down.tickets.test", a("127.0.0.12")}: {Failed, "not down.tickets.test"},
			{"down.tickets.test", a("127.0.0.14")}: {Failed, "connection refused"},
		}
		if len(res) != len(want) {
			t.Fatalf("%d results, want %d: %+v", len(res), len(want), res)
		}
		for _, r := range res {
			w, ok := want[Target{r.Name, r.Addr}]
			switch {
			case !ok:
				t.Errorf("unexpected result %+v", r)
			case r.State != w.state || !strings.Contains(r.Error, w.err) || (w.err == "") != (r.Error == ""):
				t.Errorf("%s %s: %s %q, want %s %q", r.Name, r.Addr, r.State, r.Error, w.state, w.err)
			case !r.Time.Equal(when):
				t.Errorf("%s %s: time %v, want the injected clock's %v", r.Name, r.Addr, r.Time, when)
			}
		}
		for _, d := range dialed {
			if !strings.HasPrefix(d, "127.0.0.") || !strings.HasSuffix(d, ":443") {
				t.Errorf("dialed %q: want a pinned address on port 443, never a name", d)
			}
		}

		// The resolver answers the verified address alone for box (the
		// others failed), and every address for down (none verified).
		r, addr := resolvertest.Start(t, resolver.Config{
			Listen:    []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53")},
			Upstreams: []string{"127.0.0.2:53"},
			Domains:   []string{"tickets.test"},
			Pins:      pins,
			Mode:      resolver.ModePinned,
			StateDir:  env.Dir,
		}, resolver.Options{})
		askA := func(name string) string { return resolvertest.AskA(t, addr, name) }
		if got := askA("box.tickets.test"); got != "127.0.0.14,127.0.0.13,127.0.0.12,127.0.0.11" {
			t.Errorf("before verification: box = %s, want the pin's order", got)
		}
		r.SetPinVerification(resolverStates(res))
		for name, want := range map[string]string{
			"box.tickets.test":   "127.0.0.11",
			"down.tickets.test":  "127.0.0.12,127.0.0.14",
			"x.cdn.tickets.test": "127.0.0.11", // wildcard: not verified, answered as pinned
		} {
			if got := askA(name); got != want {
				t.Errorf("after verification: %s = %s, want %s", name, got, want)
			}
		}
	})
}

// resolverStates is the daemon's mapping (cmd/dnspin pinStates), here so
// this package links no resolver outside its tests.
func resolverStates(results []Result) map[resolver.PinAddr]resolver.PinState {
	m := map[resolver.PinAddr]resolver.PinState{}
	for _, r := range results {
		s := resolver.PinUnknown
		switch r.State {
		case Verified:
			s = resolver.PinVerified
		case Failed:
			s = resolver.PinFailed
		}
		m[resolver.PinAddr{Name: r.Name, Addr: r.Addr}] = s
	}
	return m
}
