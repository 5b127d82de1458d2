package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

const (
	// outageAfter is how many failures in a row (each from a lookup begun
	// after the previous one was counted) turn "degraded" into "outage".
	outageAfter = 3
	// fastProbe is the pace of liveness checks while an upstream is
	// silent: its return is seen within a second or so.
	fastProbe = time.Second
)

// outcome is what one lookup of a platform name (a client's or a probe's)
// says about the platform's DNS.
type outcome int

const (
	outcomeGood   outcome = iota // NOERROR or NXDOMAIN within answer_budget
	outcomeSlow                  // NOERROR or NXDOMAIN, but after answer_budget
	outcomeFailed                // SERVFAIL, REFUSED, timeout, network error
)

// judge turns a lookup's result into an outcome and a reason for the log.
func judge(what string, err error, took, budget time.Duration) (outcome, string) {
	switch {
	case err != nil:
		return outcomeFailed, what + ": " + err.Error()
	case took > budget:
		return outcomeSlow, what + ": answered after " + took.Round(time.Millisecond).String() + ", slower than answer_budget (" + budget.String() + ")"
	}
	return outcomeGood, ""
}

// health is the platform's DNS state: whether the protected names are
// answered live or from backups (pins, learned answers).
//
//	normal     --failure, slow answer or answer_budget miss--> degraded
//	degraded   --3 failures in a row--> outage
//	degraded   --recover_after good probes in a row--> normal
//	outage     --good or slow probe--> recovering --recover_after good probes in a row--> normal
//	recovering --failed probe--> outage (a client's failure only restarts the count)
//	recovering --slow answer--> degraded
//
// It is fed only by lookups of protected names and by probes of random
// names under the platform's domains (probeLoop): noise about other names
// (a REFUSED here, a broken domain's SERVFAIL there) says nothing about the
// platform and never moves it. Lookups of client names can only make the
// state worse; probes, which run one at a time, decide recovery. A result
// counts only if its lookup began after the last counted one ended
// (tickets), so a burst of concurrent lookups failing together is one
// failure, not an outage, and cannot make the state flap.
type health struct {
	now      func() time.Time
	log      *slog.Logger
	onChange func()

	cur atomic.Value // State, for the lock-free fast path

	mu     sync.Mutex
	state  State
	since  time.Time
	reason string
	fails  int    // counted failures in a row
	goods  int    // counted good probes in a row
	epoch  uint64 // bumped by every counted result; see begin
	// recovered is when probes last brought the state back to normal; see
	// settleAfterRecovery.
	recovered time.Time
}

// settleAfterRecovery is how long after probes ended an outage a client's
// failed or missed lookup does not move the state again. Recursive
// resolvers keep a name's SERVFAIL for a while after its servers are back
// (unbound 5 s, BIND up to 30 s): probes of fresh random names succeed
// while names clients just asked still fail, and counting those would flap
// normal -> degraded -> outage within a second of recovering (seen in the
// replay with a real unbound). The client still gets its backup answer
// (step 2 falls back on any failure); only the state waits, and a probe's
// failure still counts at once.
const settleAfterRecovery = 10 * time.Second

// settling tells whether a client's bad result falls in the quiet time
// after a recovery (mu held).
func (h *health) settling(probe bool) bool {
	return !probe && h.state == StateNormal && !h.recovered.IsZero() && h.now().Sub(h.recovered) < settleAfterRecovery
}

func newHealth(now func() time.Time, log *slog.Logger, onChange func()) *health {
	h := &health{now: now, log: log, onChange: onChange, state: StateNormal, since: now(), reason: "started"}
	h.cur.Store(StateNormal)
	return h
}

func (h *health) get() (State, time.Time, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state, h.since, h.reason
}

func (h *health) current() State { return h.cur.Load().(State) }

// begin returns the ticket a lookup passes to report when it ends: its
// result counts only if no other result was counted in between, so that
// lookups that ran side by side count once.
func (h *health) begin() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.epoch
}

// report feeds the outcome of one lookup of a platform name into the state
// machine; probe tells a probe from a client's lookup.
func (h *health) report(ticket uint64, o outcome, probe bool, reason string, recoverAfter int) {
	h.mu.Lock()
	old := h.state
	if ticket == h.epoch && h.apply(o, probe, reason, recoverAfter) {
		h.epoch++
	}
	h.changedLocked(old)
}

// miss says a client's lookup of a platform name had no answer within
// answer_budget: normal turns degraded at once (backups answer at once
// from now on). It does not count as a failure: the lookup's own result
// does, when it comes.
func (h *health) miss(reason string) {
	h.mu.Lock()
	old := h.state
	if h.state == StateNormal && !h.settling(false) {
		h.set(StateDegraded, reason)
	}
	h.changedLocked(old)
}

// apply changes the counters and the state for one result (mu held) and
// tells whether the result counted.
func (h *health) apply(o outcome, probe bool, reason string, recoverAfter int) bool {
	if o != outcomeGood && h.settling(probe) {
		return false
	}
	switch o {
	case outcomeFailed:
		h.goods = 0
		switch h.state {
		case StateOutage:
			return false // nothing new
		case StateNormal:
			h.fails = 1
			h.set(StateDegraded, reason)
		case StateDegraded:
			h.fails++
			if h.fails >= outageAfter {
				h.set(StateOutage, reason+" ("+strconv.Itoa(h.fails)+" failures in a row)")
			}
		case StateRecovering:
			if !probe {
				// Recursive resolvers keep a name's SERVFAIL for a while
				// (unbound 5 s, RFC 2308 allows 5 min) after the platform
				// is back: the client got its backup; normal waits for a
				// clean run of probes, but only probes go back to outage.
				return true
			}
			h.fails = 1
			h.set(StateOutage, reason)
		}
		return true
	case outcomeSlow:
		switch {
		case h.state == StateOutage && !probe:
			return false // probes decide when an outage ends
		case h.state == StateOutage:
			// The platform answers again, if slowly (often a probe sent
			// in the dark and answered as the lights came back): try live
			// again; if the next probes are slow too, that is degraded.
			h.fails, h.goods = 0, 0
			h.set(StateRecovering, "the platform's DNS answers again ("+reason+")")
			return true
		}
		h.fails, h.goods = 0, 0
		if h.state != StateDegraded {
			h.set(StateDegraded, reason)
		}
		return true
	default:
		if !probe || h.state == StateNormal {
			return false // client lookups only ever make the state worse
		}
		h.fails = 0
		h.goods++
		switch h.state {
		case StateOutage:
			h.goods = 1
			if recoverAfter <= 1 {
				h.set(StateNormal, "the platform's DNS answers again")
				h.recovered = h.now()
			} else {
				h.set(StateRecovering, "the platform's DNS answers again")
			}
		default: // degraded, recovering
			if h.goods >= recoverAfter {
				h.set(StateNormal, "the platform's DNS answered "+strconv.Itoa(h.goods)+" probes in a row")
				h.recovered = h.now()
			}
		}
		return true
	}
}

// changedLocked unlocks mu, then logs and signals if the state is no
// longer old: one log line per change.
func (h *health) changedLocked(old State) {
	st, why := h.state, h.reason
	h.mu.Unlock()
	if st == old {
		return
	}
	lvl := slog.LevelWarn
	if st == StateNormal || st == StateRecovering {
		lvl = slog.LevelInfo
	}
	h.log.Log(context.Background(), lvl, "platform DNS state changed", "from", old, "to", st, "reason", why)
	h.onChange()
}

// set must be called with mu held.
func (h *health) set(s State, reason string) {
	h.state, h.since, h.reason = s, h.now(), reason
	h.cur.Store(s)
}

// maxProbeRounds bounds the platform probes under way at once: they start
// every second in an outage and may each wait a lookup's whole time.
const maxProbeRounds = 4

// probeLoop runs the probes. While the platform's state is not normal it
// asks for a random name under each platform domain every probe_interval
// (1 s by default: one query per domain); a round does not wait for the
// one before, so the platform's return is seen within a probe_interval of
// the recursive resolver answering again, not after a dark round's
// timeout. An upstream that left a query unanswered gets a liveness check
// at once, and every second while it stays silent. All is quiet while all
// is well.
func (r *Resolver) probeLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var rounds, checks atomic.Int32
	var nextRound time.Time // when the next platform probe round is due
	lastSt := StateNormal
	for {
		ch := r.Changed()
		c := r.cfg.Load()
		st := r.health.current()
		fresh := st != lastSt // a new state: probe at once
		lastSt = st
		check, down := false, false
		for _, u := range c.ups {
			s, d := u.flags()
			check = check || s || d
			down = down || d
		}
		if st == StateNormal && !check {
			select {
			case <-ctx.Done():
				return
			case <-ch:
			case <-r.kick:
			}
			continue
		}
		if check && checks.CompareAndSwap(0, 1) {
			wg.Add(1)
			go func() { defer wg.Done(); defer checks.Store(0); r.checkUpstreams(ctx, c) }()
		}
		every := c.ProbeInterval
		if st == StateNormal || down {
			every = min(every, fastProbe) // liveness checks: one a second while an upstream is silent
		}
		every += time.Duration(rand.Int64N(int64(every)/10 + 1)) // jitter: a fleet of clients does not probe in step
		now := time.Now()
		if fresh {
			nextRound = now
		}
		if st != StateNormal && !now.Before(nextRound) {
			nextRound = now.Add(every)
			if rounds.Add(1) <= maxProbeRounds {
				wg.Add(1)
				go func() { defer wg.Done(); defer rounds.Add(-1); r.probePlatform(ctx, c) }()
			} else {
				rounds.Add(-1)
			}
		}
		t := time.NewTimer(every)
		if st != StateNormal {
			t.Reset(nextRound.Sub(now)) // a kick checks upstreams; it does not bring the next round forward
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-ch: // a new state may want another pace
			t.Stop()
		case <-r.kick: // an upstream just fell silent: check it now
			t.Stop()
		}
	}
}

// probeName is a name under domain that no cache can hold: only the
// platform's authoritative servers can answer it (NXDOMAIN, or NOERROR
// under a wildcard). A cached SOA would prove nothing.
func probeName(domain string) string {
	return fmt.Sprintf("dnspin-probe-%012x.%s", rand.Uint64()&(1<<48-1), domain)
}

// probePlatform asks, through the upstreams as a client's lookup would go,
// for a random name under each platform domain, and reports the worst
// outcome as one probe.
func (r *Resolver) probePlatform(ctx context.Context, c *settings) {
	if len(c.domains) == 0 || len(c.ups) == 0 {
		return
	}
	ticket := r.health.begin()
	outs := make([]outcome, len(c.domains))
	whys := make([]string, len(c.domains))
	var wg sync.WaitGroup
	for i, d := range c.domains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := probeName(d)
			q := new(dns.Msg)
			q.SetQuestion(name, dns.TypeA)
			q.SetEdns0(ednsUDPSize, false)
			pctx, cancel := context.WithTimeout(ctx, c.resolveTimeout()) // a client lookup's patience
			defer cancel()
			start := time.Now()
			_, err := exchange(pctx, c.ups, q, c.resolveTimeout()/6)
			outs[i], whys[i] = judge("probe "+name, err, time.Since(start), c.AnswerBudget)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	worst := 0
	for i, o := range outs {
		if o > outs[worst] {
			worst = i
		}
	}
	r.health.report(ticket, outs[worst], true, whys[worst], c.RecoverAfter)
}

// checkUpstreams sends a liveness check (". NS", which any working
// resolver answers at once from its cache) to each upstream that left a
// query unanswered: one that stays silent is down, one that answers
// anything, SERVFAIL included, is up. A lookup that timed out because a
// broken domain's servers are slow says nothing about the upstream itself.
func (r *Resolver) checkUpstreams(ctx context.Context, c *settings) {
	var wg sync.WaitGroup
	for _, u := range c.ups {
		if s, d := u.flags(); !s && !d {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := new(dns.Msg)
			q.SetQuestion(".", dns.TypeNS)
			q.SetEdns0(ednsUDPSize, false)
			pctx, cancel := context.WithTimeout(ctx, c.ClientTimeout)
			defer cancel()
			start, mark := time.Now(), u.mark()
			_, err := u.u.Exchange(pctx, q)
			switch {
			case ctx.Err() != nil:
			case err == nil:
				u.answered(time.Since(start), true)
			default:
				u.silent(true, mark)
			}
		}()
	}
	wg.Wait()
}

// upstreamsDown tells whether every upstream is known not to answer at
// all: then waiting for one is pointless and names without a stale answer
// get SERVFAIL at once.
func (c *settings) upstreamsDown() bool {
	for _, u := range c.ups {
		if _, d := u.flags(); !d {
			return false
		}
	}
	return len(c.ups) > 0
}

type errRcode int

func (e errRcode) Error() string { return "answered " + dns.RcodeToString[int(e)] }

// isRcode tells an upstream's error answer (it works, but would not or
// could not answer this name) from silence.
func isRcode(err error) bool {
	var rc errRcode
	return errors.As(err, &rc)
}
