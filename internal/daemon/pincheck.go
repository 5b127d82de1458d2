package daemon

// pincheck.go schedules the TLS verification of pinned addresses
// (internal/pinverify) and hands the results to the resolver, which orders
// its backup answers by them. Nothing here is on a DNS answer's path: the
// resolver reads the last results it was given.

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/resolver"
)

// pinCheckBound caps one round of checks: with the verifier's per-address
// timeout and concurrency it is never reached in practice, but an outage
// must not leave a round hanging.
const pinCheckBound = 2 * time.Minute

// Kinds of round.
const (
	checkNew = iota // only pins without a result yet (config or bundle brought new ones)
	checkAll        // every pin (schedule, outage, changed settings)
)

// pinChecker runs rounds of pin verification: at start, when pins or the
// settings change, every interval (with jitter) while DNS is healthy, and
// once when an outage is declared.
type pinChecker struct {
	log     *slog.Logger
	res     *resolver.Resolver
	notify  func()
	now     func() time.Time
	verify  func(ctx context.Context, ts []pinverify.Target, o pinverify.Options) []pinverify.Result
	healthy func() bool
	kick    chan int // buffered; the larger kind wins

	mu       sync.Mutex
	opts     pinverify.Options
	interval time.Duration // 0: off
	results  map[pinverify.Target]pinverify.Result
	pending  int // kind asked for while a round runs or before it starts
}

func newPinChecker(log *slog.Logger, res *resolver.Resolver, notify func()) *pinChecker {
	return &pinChecker{
		log: log, res: res, notify: notify, now: time.Now, verify: pinverify.Verify,
		healthy: func() bool { return res.Status().State == resolver.StateNormal },
		kick:    make(chan int, 1),
		results: map[pinverify.Target]pinverify.Result{},
		pending: -1,
	}
}

// configure sets the verifier's settings and interval (0 turns checks off)
// and asks for a full round. A nil checker (a daemon built by a test
// without one) checks nothing.
func (p *pinChecker) configure(o pinverify.Options, interval time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.opts, p.interval = o, interval
	if interval == 0 {
		clear(p.results)
	}
	p.mu.Unlock()
	if interval == 0 {
		p.res.SetPinVerification(nil)
	}
	p.trigger(checkAll)
}

// trigger asks for a round without waiting for it.
func (p *pinChecker) trigger(kind int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.pending = max(p.pending, kind)
	p.mu.Unlock()
	select {
	case p.kick <- kind:
	default:
	}
}

// run does rounds until ctx ends.
func (p *pinChecker) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		interval := p.interval
		p.mu.Unlock()
		if interval > 0 {
			// 75% to 125% of the interval, so a fleet started together
			// spreads out over the platform.
			timer.Reset(interval*3/4 + rand.N(interval/2+1))
		}
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		case <-timer.C:
			if !p.healthy() {
				continue // an outage gets its one round from followResolver
			}
			p.trigger(checkAll)
			<-p.kick
		}
		p.mu.Lock()
		kind := p.pending
		p.pending = -1
		p.mu.Unlock()
		if kind >= 0 {
			p.round(ctx, kind)
		}
	}
}

// round verifies the pins in effect and hands the results to the resolver.
func (p *pinChecker) round(ctx context.Context, kind int) {
	p.mu.Lock()
	o, on := p.opts, p.interval > 0
	p.mu.Unlock()
	if !on {
		return
	}
	all := pinverify.Targets(p.res.Pins())
	todo := all
	if kind == checkNew {
		p.mu.Lock()
		todo = slices.DeleteFunc(slices.Clone(all), func(t pinverify.Target) bool { _, ok := p.results[t]; return ok })
		p.mu.Unlock()
	}
	if len(todo) > 0 {
		ctx, cancel := context.WithTimeout(ctx, pinCheckBound)
		res := p.verify(ctx, todo, o)
		cancel()
		n := 0
		for _, r := range res {
			if r.State == pinverify.Verified {
				n++
			}
		}
		p.log.Info("pinned addresses checked by TLS", "checked", len(res), "verified", n, "port", o.Port)
		p.mu.Lock()
		for _, r := range res {
			if r.State != pinverify.Unknown || p.results[pinverify.Target{Name: r.Name, Addr: r.Addr}].State == "" {
				p.results[pinverify.Target{Name: r.Name, Addr: r.Addr}] = r
			}
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	for t := range p.results { // pins withdrawn since
		if !slices.Contains(all, t) {
			delete(p.results, t)
		}
	}
	list := p.snapshotLocked()
	p.mu.Unlock()
	p.res.SetPinVerification(pinStates(list))
	p.notify()
}

func (p *pinChecker) snapshotLocked() []pinverify.Result {
	out := make([]pinverify.Result, 0, len(p.results))
	for _, r := range p.results {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b pinverify.Result) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
	return out
}

// status is the status JSON's view: one entry per checked address, and a
// summary for the tray: "verified" when every checked pin has a verified
// address, "not_verified" when one has none, "" before the first round
// or with checks off.
func (p *pinChecker) status() ([]control.PinCheck, string) {
	if p == nil {
		return nil, ""
	}
	p.mu.Lock()
	list := p.snapshotLocked()
	p.mu.Unlock()
	if len(list) == 0 {
		return nil, ""
	}
	verified := map[string]bool{}
	for _, r := range list {
		verified[r.Name] = verified[r.Name] || r.State == pinverify.Verified
	}
	out := make([]control.PinCheck, 0, len(list))
	summary := "verified"
	for _, r := range list {
		c := control.PinCheck{Name: r.Name, Address: r.Addr.String(), State: string(r.State), Error: r.Error}
		if !r.Time.IsZero() {
			c.Time = r.Time.UTC().Format(time.RFC3339)
		}
		c.LeftOut = r.State == pinverify.Failed && verified[r.Name]
		if !verified[r.Name] {
			summary = "not_verified"
		}
		out = append(out, c)
	}
	return out, summary
}

// pinStates turns results into what the resolver orders pinned answers by.
func pinStates(results []pinverify.Result) map[resolver.PinAddr]resolver.PinState {
	m := make(map[resolver.PinAddr]resolver.PinState, len(results))
	for _, r := range results {
		s := resolver.PinUnknown
		switch r.State {
		case pinverify.Verified:
			s = resolver.PinVerified
		case pinverify.Failed:
			s = resolver.PinFailed
		}
		m[resolver.PinAddr{Name: r.Name, Addr: r.Addr}] = s
	}
	return m
}
