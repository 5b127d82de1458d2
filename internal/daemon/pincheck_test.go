package daemon

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/internal/pinverify/pinverifytest"
	"github.com/dnspin/dnspin/resolver"
)

// TestPinCheckerRounds drives the scheduler with a recording verifier (no
// TLS, no network: cmd/dnspin/pincheck_linux_test.go does the real thing): a full
// round at start, only new pins when a bundle brings them, every pin for
// an outage's round, rounds on the interval while healthy, nothing when
// checks are off.
func TestPinCheckerRounds(t *testing.T) {
	t.Parallel()
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	res, err := resolver.New(resolver.Config{
		Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Upstreams: []string{"127.0.0.1:9"}, Domains: []string{"tickets.test"},
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

// TestOutageTriggersPinCheck: when the resolver declares an outage, the
// daemon asks for one round over every pin (in the background).
func TestOutageTriggersPinCheck(t *testing.T) {
	t.Parallel()
	a := netip.MustParseAddr("192.0.2.1")
	// Nothing listens on the discard port: every exchange fails at once.
	res, err := resolver.New(resolver.Config{
		Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Upstreams: []string{"127.0.0.1:9"}, Domains: []string{"tickets.test"},
		Pins:     []resolver.Pin{{Name: "box.tickets.test", A: []netip.Addr{a}}},
		StateDir: t.TempDir(), Mode: resolver.ModeAuto,
		AnswerBudget: 50 * time.Millisecond, ClientTimeout: 100 * time.Millisecond, StaleTTL: time.Second,
		MaxStale: time.Hour, ProbeInterval: 10 * time.Millisecond, RecoverAfter: 3,
	}, resolver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := res.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		res.Shutdown(sctx)
	})
	verified := make(chan int, 10)
	d := &daemon{log: slog.New(slog.DiscardHandler), res: res}
	d.pins = newPinChecker(d.log, res, func() {})
	d.pins.verify = func(_ context.Context, ts []pinverify.Target, _ pinverify.Options) []pinverify.Result {
		verified <- len(ts)
		return nil
	}
	d.pins.mu.Lock()
	d.pins.opts, d.pins.interval = pinverify.Options{Port: 443}, time.Hour // no start round: only the outage's
	d.pins.mu.Unlock()
	go d.pins.run(ctx)
	changed := d.Changed()
	go d.followResolver(ctx)
	// Wait until followResolver follows: it passes mode changes on (one
	// made before it subscribed is not seen, so keep changing).
	for mode := resolver.ModePassthrough; ; {
		res.SetMode(mode)
		select {
		case <-changed:
		case <-time.After(10 * time.Millisecond):
			mode = map[resolver.Mode]resolver.Mode{resolver.ModePassthrough: resolver.ModeAuto, resolver.ModeAuto: resolver.ModePassthrough}[mode]
			continue
		}
		break
	}
	res.SetMode(resolver.ModeAuto)

	deadline := time.Now().Add(time.Minute) // a safety net, not a timing assertion
	for res.Status().State != resolver.StateOutage {
		if time.Now().After(deadline) {
			t.Fatalf("no outage; state %s", res.Status().State)
		}
		_, _, _ = res.Lookup(ctx, "box.tickets.test", 1) // A: fails upstream, answered from the pin
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case n := <-verified:
		if n != 1 {
			t.Errorf("outage round checked %d targets, want 1", n)
		}
	case <-time.After(time.Minute):
		t.Fatal("no pin check after the outage was declared")
	}
}

// TestPinCheckerLearnedAndTrust: full rounds check learned addresses, at
// most learnedPerRound a round (unchecked ones first, then the oldest
// checked), rounds for new pins do not; the bundle's CA and SPKI pins
// replace the config's and a change checks everything again, the same
// trust nothing.
func TestPinCheckerLearnedAndTrust(t *testing.T) {
	t.Parallel()
	res, err := resolver.New(resolver.Config{
		Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, Upstreams: []string{"127.0.0.1:9"}, Domains: []string{"tickets.test"},
		StateDir: t.TempDir(),
	}, resolver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var learned []resolver.PinAddr
	for i := range 100 {
		learned = append(learned, resolver.PinAddr{Name: "l.tickets.test", Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})})
	}
	var mu sync.Mutex
	var calls [][]pinverify.Target
	var opts []pinverify.Options
	clock := 0
	pc := newPinChecker(slog.New(slog.DiscardHandler), res, func() {})
	pc.learned = func() []resolver.PinAddr { return learned }
	pc.verify = func(_ context.Context, ts []pinverify.Target, o pinverify.Options) []pinverify.Result {
		mu.Lock()
		defer mu.Unlock()
		calls, opts = append(calls, ts), append(opts, o)
		var out []pinverify.Result
		for _, t := range ts {
			clock++
			st := pinverify.Failed
			if t.Addr.As4()[3] == 0 {
				st = pinverify.Verified
			}
			out = append(out, pinverify.Result{Name: t.Name, Addr: t.Addr, State: st, Time: time.Unix(int64(clock), 0)})
		}
		return out
	}
	cfgSPKI := [][32]byte{{1}}
	pc.opts, pc.interval = pinverify.Options{Port: 443, SPKI: cfgSPKI}, time.Hour
	ctx := context.Background()

	pc.round(ctx, checkAll)
	if len(calls) != 1 || len(calls[0]) != learnedPerRound || calls[0][0].Addr != learned[0].Addr {
		t.Fatalf("first round: %d calls, %v", len(calls), calls)
	}
	st := pc.learnedStatus()
	if len(st) != learnedPerRound || st[0].State != "verified" || !st[1].LeftOut || st[0].LeftOut {
		t.Errorf("learned status: %+v", st[:2])
	}
	pc.round(ctx, checkNew) // a bundle brought pins: no learned checks
	if len(calls) != 1 {
		t.Errorf("a round for new pins checked learned addresses: %v", calls[1:])
	}
	pc.round(ctx, checkAll)
	second := calls[1]
	if len(second) != learnedPerRound || second[0].Addr != learned[learnedPerRound].Addr || second[100-learnedPerRound].Addr != learned[0].Addr {
		t.Errorf("second round: the 36 unchecked, then the oldest checked; got %v", second)
	}
	learned = learned[:10] // the rest expired or changed
	pc.round(ctx, checkNew)
	if n := len(pc.learnedStatus()); n != 10 {
		t.Errorf("results of addresses no longer learned kept: %d", n)
	}

	// The bundle's trust replaces the config's for the keys it carries.
	ca := pinverifytest.NewCA(t)
	if o := pc.options(); o.Roots != nil || len(o.SPKI) != 1 || o.SPKI[0] != cfgSPKI[0] {
		t.Errorf("config options: %+v", o)
	}
	pc.setTrust(bundle.Trust{CA: []*x509.Certificate{ca.Cert}})
	if o := pc.options(); o.Roots == nil || o.SPKI[0] != cfgSPKI[0] {
		t.Errorf("bundle CA: roots %v, SPKI %v (the config's stays)", o.Roots, o.SPKI)
	}
	if k := <-pc.kick; k != checkAll || pc.pending != checkAll {
		t.Errorf("new trust asked for %d", k)
	}
	pc.pending = -1
	pc.setTrust(bundle.Trust{CA: []*x509.Certificate{ca.Cert}})
	select {
	case k := <-pc.kick:
		t.Errorf("the same trust asked for a round (%d)", k)
	default:
	}
	spki := [][32]byte{{2}}
	pc.setTrust(bundle.Trust{SPKI: spki})
	if o := pc.options(); o.Roots != nil || o.SPKI[0] != spki[0] {
		t.Errorf("bundle SPKI: roots %v, SPKI %v", o.Roots, o.SPKI)
	}
	pc.round(ctx, checkAll)
	if o := opts[len(opts)-1]; o.SPKI[0] != spki[0] {
		t.Errorf("round used SPKI %v", o.SPKI)
	}
}
