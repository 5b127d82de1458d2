package main

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/resolver"
)

// TestPinCheckerRounds drives the scheduler with a recording verifier (no
// TLS, no network: pincheck_linux_test.go does the real thing): a full
// round at start, only new pins when a bundle brings them, every pin for
// an outage's round, rounds on the interval while healthy, nothing when
// checks are off.
func TestPinCheckerRounds(t *testing.T) {
	t.Parallel()
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	res, err := resolver.New(resolver.Config{
		Listen: []string{"127.0.0.1:0"}, Upstreams: []string{"127.0.0.1:9"}, Domains: []string{"tickets.test"},
		Pins:     []resolver.Pin{{Name: "box.tickets.test", A: []netip.Addr{a("192.0.2.1"), a("192.0.2.2")}}},
		StateDir: t.TempDir(),
	}, resolver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls [][]pinverify.Target
	rounds := make(chan struct{}, 100)
	var healthy atomic.Bool
	pc := newPinChecker(slog.New(slog.DiscardHandler), res, func() {
		select {
		case rounds <- struct{}{}:
		default: // the 1 ms interval below may outrun the test
		}
	})
	pc.healthy = healthy.Load
	pc.verify = func(_ context.Context, ts []pinverify.Target, o pinverify.Options) []pinverify.Result {
		mu.Lock()
		calls = append(calls, ts)
		mu.Unlock()
		var out []pinverify.Result
		for _, t := range ts {
			st := pinverify.Verified
			if t.Addr == a("192.0.2.2") {
				st = pinverify.Failed
			}
			out = append(out, pinverify.Result{Name: t.Name, Addr: t.Addr, State: st, Time: time.Unix(1, 0)})
		}
		return out
	}
	round := func(step string, want int) {
		t.Helper()
		select {
		case <-rounds:
		case <-time.After(time.Minute):
			t.Fatalf("%s: no round", step)
		}
		mu.Lock()
		defer mu.Unlock()
		if want < 0 {
			return
		}
		if n := len(calls[len(calls)-1]); n != want {
			t.Errorf("%s: verified %d targets, want %d (%v)", step, n, want, calls[len(calls)-1])
		}
	}
	ncalls := func() int { mu.Lock(); defer mu.Unlock(); return len(calls) }

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	pc.configure(pinverify.Options{Port: 443}, time.Hour)
	go func() { defer close(done); pc.run(ctx) }()
	round("start", 2)
	checks, summary := pc.status()
	if len(checks) != 2 || summary != "verified" || !checks[1].LeftOut || checks[0].LeftOut {
		t.Errorf("status after start: %+v %q", checks, summary)
	}

	pc.trigger(checkNew) // the same bundle again
	round("nothing new", -1)
	if n := ncalls(); n != 1 {
		t.Errorf("a round without new pins verified again: %d calls", n)
	}
	res.SetBundlePins([]resolver.Pin{{Name: "new.tickets.test", A: []netip.Addr{a("192.0.2.3")}}})
	pc.trigger(checkNew)
	round("new bundle pin", 1)
	pc.trigger(checkAll) // what a declared outage asks for
	round("outage", 3)

	healthy.Store(true)
	pc.configure(pinverify.Options{Port: 443}, time.Millisecond)
	round("changed settings", 3)
	round("interval while healthy", 3)

	pc.configure(pinverify.Options{Port: 443}, 0)
	before := ncalls()
	pc.trigger(checkAll)
	pc.trigger(checkAll)
	if checks, summary := pc.status(); checks != nil || summary != "" {
		t.Errorf("checks off: status %+v %q", checks, summary)
	}
	cancel()
	<-done
	if n := ncalls(); n > before+1 { // at most a round that had begun
		t.Errorf("checks off, yet %d more rounds", n-before)
	}
}
