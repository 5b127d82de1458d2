package daemon

// pincheck.go schedules the TLS verification of pinned and learned
// addresses (internal/pinverify) and hands the results to the resolver,
// which orders its backup answers by them. Nothing here is on a DNS
// answer's path: the resolver reads the last results it was given.

import (
	"context"
	"crypto/x509"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dnspin/dnspin/internal/bundle"
	"github.com/dnspin/dnspin/internal/control"
	"github.com/dnspin/dnspin/internal/pinverify"
	"github.com/dnspin/dnspin/resolver"
)

// pinCheckBound caps one round of checks: with the verifier's per-address
// timeout and concurrency it is never reached in practice, but an outage
// must not leave a round hanging.
const pinCheckBound = 2 * time.Minute

// learnedPerRound caps the learned addresses one full round checks: up to
// 4096 learned answers must not turn an hourly round (or the one at an
// outage) into thousands of handshakes from every desktop. Addresses not
// checked yet go first, then those checked longest ago, so successive
// rounds cover them all. Pins are always checked in full: operators list
// few, and vouch for them.
const learnedPerRound = 64

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
	learned func() []resolver.PinAddr // learned addresses served as backups, newest first
	kick    chan int                  // buffered; the larger kind wins

	mu         sync.Mutex
	opts       pinverify.Options // the config's (platform.verify_*)
	trust      bundle.Trust      // the bundle's verify_ca and verify_spki
	trustRoots *x509.CertPool    // OS store plus trust.CA, when trust.CA is set
	interval   time.Duration     // 0: off
	results    map[pinverify.Target]pinverify.Result
	learnedRes map[pinverify.Target]pinverify.Result
	pending    int // kind asked for while a round runs or before it starts
}

func newPinChecker(log *slog.Logger, res *resolver.Resolver, notify func()) *pinChecker {
	return &pinChecker{
		log: log, res: res, notify: notify, now: time.Now, verify: pinverify.Verify,
		healthy: func() bool { return res.Status().State == resolver.StateNormal },
		learned: res.LearnedAddrs,
		kick:    make(chan int, 1),
		results: map[pinverify.Target]pinverify.Result{}, learnedRes: map[pinverify.Target]pinverify.Result{},
		pending: -1,
	}
}

// setTrust installs a bundle's verify_ca and verify_spki (the zero Trust:
// none, the config's apply). Each key the bundle carries replaces the
// config's while the bundle is in use. Changed trust checks every address
// again; the same trust (a reload, the same bundle) changes nothing.
func (p *pinChecker) setTrust(t bundle.Trust) {
	if p == nil {
		return
	}
	var roots *x509.CertPool
	if len(t.CA) > 0 {
		var err error
		roots, err = pinverify.Roots(t.CA)
		if err != nil {
			p.log.Warn("pin verification", "err", err)
		}
	}
	p.mu.Lock()
	same := p.trust.Equal(t)
	if !same {
		p.trust, p.trustRoots = t, roots
	}
	p.mu.Unlock()
	if !same {
		p.log.Info("pin verification: the bundle's CA and SPKI pins apply", "verify_ca", len(t.CA), "verify_spki", len(t.SPKI))
		p.trigger(checkAll)
	}
}

// options are the verifier's settings in effect: the config's, with the
// bundle's CA and SPKI pins in place of the config's where it has them.
func (p *pinChecker) options() pinverify.Options {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.optionsLocked()
}

func (p *pinChecker) optionsLocked() pinverify.Options {
	o := p.opts
	if len(p.trust.CA) > 0 {
		o.Roots = p.trustRoots
	}
	if len(p.trust.SPKI) > 0 {
		o.SPKI = p.trust.SPKI
	}
	return o
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
		clear(p.learnedRes)
	}
	p.mu.Unlock()
	if interval == 0 {
		p.res.SetPinVerification(nil)
		p.res.SetLearnedVerification(nil)
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

// round verifies the pins in effect and, in a full round, up to
// learnedPerRound learned addresses, and hands the results to the resolver.
func (p *pinChecker) round(ctx context.Context, kind int) {
	p.mu.Lock()
	o, on := p.optionsLocked(), p.interval > 0
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
	var learned []pinverify.Target
	for _, a := range p.learned() {
		learned = append(learned, pinverify.Target{Name: a.Name, Addr: a.Addr})
	}
	var learnedTodo []pinverify.Target
	if kind == checkAll {
		learnedTodo = p.pickLearned(learned)
	}
	if len(todo)+len(learnedTodo) > 0 {
		ctx, cancel := context.WithTimeout(ctx, pinCheckBound)
		res := p.verify(ctx, append(slices.Clone(todo), learnedTodo...), o)
		cancel()
		var pinRes, learnedRes []pinverify.Result
		for _, r := range res {
			if slices.Contains(learnedTodo, pinverify.Target{Name: r.Name, Addr: r.Addr}) {
				learnedRes = append(learnedRes, r)
			} else {
				pinRes = append(pinRes, r)
			}
		}
		if len(pinRes) > 0 {
			p.log.Info("pinned addresses checked by TLS", "checked", len(pinRes), "verified", countVerified(pinRes), "port", o.Port)
		}
		if len(learnedRes) > 0 {
			p.log.Info("learned addresses checked by TLS", "checked", len(learnedRes), "verified", countVerified(learnedRes), "learned", len(learned), "port", o.Port)
		}
		p.mu.Lock()
		keep(p.results, pinRes)
		keep(p.learnedRes, learnedRes)
		p.mu.Unlock()
	}
	p.mu.Lock()
	for t := range p.results { // pins withdrawn since
		if !slices.Contains(all, t) {
			delete(p.results, t)
		}
	}
	served := make(map[pinverify.Target]bool, len(learned))
	for _, t := range learned {
		served[t] = true
	}
	for t := range p.learnedRes { // learned answers changed or expired since
		if !served[t] {
			delete(p.learnedRes, t)
		}
	}
	list := snapshot(p.results)
	llist := snapshot(p.learnedRes)
	p.mu.Unlock()
	p.res.SetPinVerification(pinStates(list))
	p.res.SetLearnedVerification(pinStates(llist))
	p.notify()
}

// pickLearned chooses the learned addresses of one round: those never
// checked first (newest answers first, as given), then those checked
// longest ago, at most learnedPerRound.
func (p *pinChecker) pickLearned(learned []pinverify.Target) []pinverify.Target {
	p.mu.Lock()
	defer p.mu.Unlock()
	var fresh, checked []pinverify.Target
	for _, t := range learned {
		if _, ok := p.learnedRes[t]; ok {
			checked = append(checked, t)
		} else {
			fresh = append(fresh, t)
		}
	}
	slices.SortStableFunc(checked, func(a, b pinverify.Target) int { return p.learnedRes[a].Time.Compare(p.learnedRes[b].Time) })
	out := append(fresh, checked...)
	return out[:min(len(out), learnedPerRound)]
}

// keep stores results; a cancelled check (Unknown) does not replace an
// earlier outcome.
func keep(m map[pinverify.Target]pinverify.Result, res []pinverify.Result) {
	for _, r := range res {
		t := pinverify.Target{Name: r.Name, Addr: r.Addr}
		if r.State != pinverify.Unknown || m[t].State == "" {
			m[t] = r
		}
	}
}

func countVerified(res []pinverify.Result) int {
	n := 0
	for _, r := range res {
		if r.State == pinverify.Verified {
			n++
		}
	}
	return n
}

func snapshot(m map[pinverify.Target]pinverify.Result) []pinverify.Result {
	out := make([]pinverify.Result, 0, len(m))
	for _, r := range m {
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
	list := snapshot(p.results)
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

// learnedStatus is the status JSON's learned_checks: the last check of each
// learned address served as a backup. LeftOut as the resolver decides it:
// failed while another address of the name and family verified.
func (p *pinChecker) learnedStatus() []control.PinCheck {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	list := snapshot(p.learnedRes)
	p.mu.Unlock()
	if len(list) == 0 {
		return nil
	}
	type fam struct {
		name string
		v4   bool
	}
	verified := map[fam]bool{}
	for _, r := range list {
		if r.State == pinverify.Verified {
			verified[fam{r.Name, r.Addr.Is4()}] = true
		}
	}
	out := make([]control.PinCheck, 0, len(list))
	for _, r := range list {
		c := control.PinCheck{Name: r.Name, Address: r.Addr.String(), State: string(r.State), Error: r.Error}
		if !r.Time.IsZero() {
			c.Time = r.Time.UTC().Format(time.RFC3339)
		}
		c.LeftOut = r.State == pinverify.Failed && verified[fam{r.Name, r.Addr.Is4()}]
		out = append(out, c)
	}
	return out
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
