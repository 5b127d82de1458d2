package resolver

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// outageAfter is how many failed upstream exchanges in a row turn
// "degraded" into "outage".
const outageAfter = 3

// health is the outage state machine of SPEC.md:
//
//	normal --failure--> degraded --3 failures in a row--> outage
//	degraded --recover_after good results in a row--> normal
//	outage --good result--> recovering --recover_after good in a row--> normal
//	recovering --failure--> outage
//
// Results come from real queries and from the probes that run while the
// state is not normal. Each change is logged once, with its reason.
type health struct {
	now      func() time.Time
	log      *slog.Logger
	onChange func()

	cur atomic.Value // State, for the lock-free fast path

	mu     sync.Mutex
	state  State
	since  time.Time
	reason string
	fails  int // failures in a row
	goods  int // good results in a row
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

// result feeds one upstream outcome into the state machine.
func (h *health) result(ok bool, reason string, recoverAfter int) {
	h.mu.Lock()
	old := h.state
	if ok {
		h.fails = 0
		h.goods++
		switch h.state {
		case StateDegraded, StateRecovering:
			if h.goods >= recoverAfter {
				h.set(StateNormal, "upstream answered "+strconv.Itoa(h.goods)+" times in a row")
			}
		case StateOutage:
			if recoverAfter <= 1 {
				h.set(StateNormal, "upstream answers again")
			} else {
				h.set(StateRecovering, "upstream answers again")
			}
		}
	} else {
		h.goods = 0
		h.fails++
		switch h.state {
		case StateNormal:
			h.set(StateDegraded, reason)
		case StateDegraded:
			if h.fails >= outageAfter {
				h.set(StateOutage, reason)
			}
		case StateRecovering:
			h.set(StateOutage, reason)
		}
	}
	changed := h.state != old
	st, why := h.state, h.reason
	h.mu.Unlock()
	if changed {
		lvl := slog.LevelWarn
		if st == StateNormal || st == StateRecovering {
			lvl = slog.LevelInfo
		}
		h.log.Log(context.Background(), lvl, "upstream state changed", "from", old, "to", st, "reason", why)
		h.onChange()
	}
}

// set must be called with mu held.
func (h *health) set(s State, reason string) {
	h.state, h.since, h.reason = s, h.now(), reason
	h.cur.Store(s)
}

// probeLoop tests upstream every probe_interval while the state is not
// normal. It sleeps on the change channel while all is well.
func (r *Resolver) probeLoop(ctx context.Context) {
	for {
		ch := r.Changed()
		if r.health.current() == StateNormal {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				continue
			}
		}
		t := time.NewTimer(r.cfg.Load().ProbeInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		r.probe(ctx)
	}
}

// probe asks every upstream for the first protected domain (or the root's
// NS when none is configured). Any answer that is not an error counts as
// good, NXDOMAIN included: the server is working.
func (r *Resolver) probe(ctx context.Context) {
	c := r.cfg.Load()
	name := "."
	if len(c.domains) > 0 {
		name = c.domains[0]
	}
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeSOA)
	q.SetEdns0(ednsUDPSize, false)
	pctx, cancel := context.WithTimeout(ctx, c.resolveTimeout()) // the same patience as a query
	defer cancel()
	var wg sync.WaitGroup
	oks := make([]bool, len(c.ups))
	errs := make([]string, len(c.ups))
	for i, u := range c.ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			resp, err := u.u.Exchange(pctx, q)
			if err == nil && resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
				err = errRcode(resp.Rcode)
			}
			u.record(err == nil, time.Since(start))
			oks[i] = err == nil
			if err != nil {
				errs[i] = u.u.Address() + " " + err.Error()
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	for _, ok := range oks {
		if ok {
			r.health.result(true, "", c.RecoverAfter)
			return
		}
	}
	reason := "probe: no upstream configured"
	if len(errs) > 0 {
		reason = "probe: " + errs[0]
	}
	r.health.result(false, reason, c.RecoverAfter)
}

type errRcode int

func (e errRcode) Error() string { return "answered " + dns.RcodeToString[int(e)] }
