package resolver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestForwardCacheAndTTLCountdown(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	clock := newClock()
	r, addr := startResolver(t, testConfig(up.addr), clock)

	first := ask(t, addr, "www.other.test", dns.TypeA)
	if first.Rcode != dns.RcodeSuccess || addrsOf(first) == "" || ttlOf(first) != 300 {
		t.Fatalf("first answer: %s ttl %d", describe(first), ttlOf(first))
	}
	clock.Advance(100 * time.Second)
	second := ask(t, addr, "WWW.Other.Test", dns.TypeA) // other case, same entry
	if up.count("www.other.test") != 1 {
		t.Fatalf("upstream asked %d times, want 1 (second answer from cache)", up.count("www.other.test"))
	}
	if addrsOf(second) != addrsOf(first) || ttlOf(second) != 200 {
		t.Fatalf("cached answer: %s ttl %d, want %s ttl 200", describe(second), ttlOf(second), addrsOf(first))
	}
	if second.Question[0].Name != "WWW.Other.Test." {
		t.Errorf("question name %q: the client's spelling must come back", second.Question[0].Name)
	}
	clock.Advance(201 * time.Second) // expired
	ask(t, addr, "www.other.test", dns.TypeA)
	if up.count("www.other.test") != 2 {
		t.Fatalf("after expiry upstream asked %d times, want 2", up.count("www.other.test"))
	}
	if n := r.Status().Answers[SourceCache]; n != 1 {
		t.Errorf("cache answers counted %d, want 1", n)
	}
	if n := r.Status().Answers[SourceUpstream]; n != 2 {
		t.Errorf("upstream answers counted %d, want 2", n)
	}
}

func TestNegativeCaching(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	clock := newClock()
	_, addr := startResolver(t, testConfig(up.addr), clock)
	for _, name := range []string{"nxdomain.other.test", "nx.tickets.test"} { // protected NXDOMAIN passes through too
		m := ask(t, addr, name, dns.TypeA)
		if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
			t.Fatalf("%s: %s, want NXDOMAIN with SOA", name, describe(m))
		}
		clock.Advance(59 * time.Second) // SOA minimum 60 bounds the negative TTL
		m = ask(t, addr, name, dns.TypeA)
		if m.Rcode != dns.RcodeNameError || up.count(name) != 1 || m.Ns[0].Header().Ttl != 1 {
			t.Fatalf("%s again: %s, upstream asked %d times, SOA TTL %d; want cached NXDOMAIN, TTL 1", name, describe(m), up.count(name), m.Ns[0].Header().Ttl)
		}
		clock.Advance(2 * time.Second)
		ask(t, addr, name, dns.TypeA)
		if up.count(name) != 2 {
			t.Fatalf("%s: negative entry did not expire", name)
		}
	}
	// NODATA is cached as well.
	ask(t, addr, "mail.other.test", dns.TypeMX)
	m := ask(t, addr, "mail.other.test", dns.TypeMX)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || up.count("mail.other.test") != 1 {
		t.Fatalf("NODATA: %s, upstream asked %d times", describe(m), up.count("mail.other.test"))
	}
}

func TestTruncationAndTCP(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	_, addr := startResolver(t, testConfig(up.addr), nil)

	// 100 records do not fit the 1232 bytes we ask for: the upstream
	// truncates over UDP and the resolver retries over TCP.
	m := ask(t, addr, "big.other.test", dns.TypeA, overTCP)
	if len(m.Answer) != 100 || m.Truncated {
		t.Fatalf("over TCP: %d records, TC %v; want all 100", len(m.Answer), m.Truncated)
	}
	if up.tcpN.Load() != 1 {
		t.Fatalf("upstream saw %d TCP queries, want 1 (retry after TC)", up.tcpN.Load())
	}
	// A UDP client without EDNS0 gets what fits in 512 bytes and TC.
	m = ask(t, addr, "big.other.test", dns.TypeA, noEDNS)
	m.Compress = true
	if !m.Truncated || len(m.Answer) >= 100 || m.Len() > 512 {
		t.Fatalf("UDP without EDNS0: TC %v, %d records, %d bytes", m.Truncated, len(m.Answer), m.Len())
	}
	if m.IsEdns0() != nil {
		t.Error("reply has OPT though the query had none")
	}
	// With EDNS0 4096 everything fits.
	m = ask(t, addr, "big.other.test", dns.TypeA, func(m *dns.Msg, _ *dns.Client) { m.IsEdns0().SetUDPSize(4096) })
	if m.Truncated || len(m.Answer) != 100 {
		t.Fatalf("UDP with EDNS0 4096: TC %v, %d records", m.Truncated, len(m.Answer))
	}
	if up.count("big.other.test") != 2 { // one UDP (TC) + one TCP, then cache
		t.Errorf("upstream asked %d times, want 2", up.count("big.other.test"))
	}
}

func TestEDNSKept(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	_, addr := startResolver(t, testConfig(up.addr), nil)

	m := ask(t, addr, "do.other.test", dns.TypeA, withDO)
	opt := up.last().IsEdns0()
	if opt == nil || !opt.Do() {
		t.Fatalf("upstream query EDNS0 %v: want OPT with DO", opt)
	}
	if o := m.IsEdns0(); o == nil || !o.Do() {
		t.Fatalf("reply OPT %v: want DO echoed", o)
	}
	m = ask(t, addr, "plain.other.test", dns.TypeA, noEDNS)
	if m.IsEdns0() != nil || addrsOf(m) == "" {
		t.Fatalf("plain query: %s, OPT %v", describe(m), m.IsEdns0())
	}
	if opt := up.last().IsEdns0(); opt == nil || opt.Do() {
		t.Fatalf("upstream query EDNS0 %v: want OPT without DO", opt)
	}
	// DO and non-DO answers are cached apart.
	ask(t, addr, "do.other.test", dns.TypeA)
	if up.count("do.other.test") != 2 {
		t.Errorf("upstream asked %d times for do.other.test, want 2 (DO is part of the key)", up.count("do.other.test"))
	}
}

// TestUpstreamFailures is docs/architecture.md's "How a query is answered" under each way
// upstream can fail.
func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"drop", "servfail", "refused", "slow"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t)
			clock := newClock()
			r, addr := startResolver(t, testConfig(up.addr), clock)
			// Learn and cache while upstream works.
			live := ask(t, addr, "learned.tickets.test", dns.TypeA)
			cached := ask(t, addr, "www.other.test", dns.TypeA)
			clock.Advance(time.Hour) // both expire from the cache
			up.set(mode)

			m := ask(t, addr, "shop.tickets.test", dns.TypeA)
			if addrsOf(m) != "192.0.2.10,192.0.2.11" || SourceFromEDE(m) != SourcePinned || ttlOf(m) != 30 {
				t.Errorf("pinned name: %s ttl %d; want the pins, TTL 30", describe(m), ttlOf(m))
			}
			if ede := edeOf(m); ede == nil || ede.InfoCode != dns.ExtendedErrorCodeStaleAnswer {
				t.Errorf("pinned answer EDE %v, want code 3", ede)
			}
			m = ask(t, addr, "learned.tickets.test", dns.TypeA)
			if addrsOf(m) != addrsOf(live) || SourceFromEDE(m) != SourceLearned || ttlOf(m) != 30 {
				t.Errorf("learned name: %s ttl %d; want %s learned", describe(m), ttlOf(m), addrsOf(live))
			}
			m = ask(t, addr, "shop.tickets.test", dns.TypeAAAA) // pinned for A only
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || SourceFromEDE(m) != SourcePinned {
				t.Errorf("pinned name, family without pin: %s; want NOERROR without records", describe(m))
			}
			m = ask(t, addr, "learned.tickets.test", dns.TypeHTTPS) // learned for A only
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || SourceFromEDE(m) != SourceLearned {
				t.Errorf("learned name, type never learned: %s; want NOERROR without records", describe(m))
			}
			m = ask(t, addr, "www.other.test", dns.TypeA)
			if addrsOf(m) != addrsOf(cached) || SourceFromEDE(m) != SourceStale || ttlOf(m) != 30 {
				t.Errorf("unprotected, stale data: %s ttl %d; want stale %s", describe(m), ttlOf(m), addrsOf(cached))
			}
			m = ask(t, addr, "new.other.test", dns.TypeA)
			if m.Rcode != dns.RcodeServerFailure || SourceFromEDE(m) != SourceServfail {
				t.Errorf("unprotected, no data: %s; want SERVFAIL", describe(m))
			}
			s := r.Status()
			for _, src := range []Source{SourcePinned, SourceLearned, SourceStale, SourceServfail} {
				if s.Answers[src] == 0 {
					t.Errorf("no %s answer counted: %v", src, s.Answers)
				}
			}
			if s.State == StateNormal {
				t.Errorf("state still normal after failures")
			}
		})
	}
}

func edeOf(m *dns.Msg) *dns.EDNS0_EDE {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return e
			}
		}
	}
	return nil
}

func TestOutageAndRecovery(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	clock := newClock()
	r, addr := startResolver(t, testConfig(up.addr), clock)
	ask(t, addr, "learned.tickets.test", dns.TypeA)
	clock.Advance(time.Hour)
	ask(t, addr, "fresh.tickets.test", dns.TypeA) // still fresh in the cache during the outage

	up.set("drop")
	// The platform's own names fail: pins at once, the state moves on
	// (the lookups' failures, then probes' failures: outage).
	if m := ask(t, addr, "shop.tickets.test", dns.TypeA); SourceFromEDE(m) != SourcePinned {
		t.Fatalf("pinned name as upstream fails: %s", describe(m))
	}
	waitState(t, r, StateOutage)
	s := r.Status()
	if s.StateReason == "" || !s.StateSince.Equal(clock.Now()) {
		t.Errorf("outage reason %q since %v; want a reason and the injected clock's time", s.StateReason, s.StateSince)
	}
	waitFor(t, "the silent upstream marked down", func() bool { return !r.Status().Upstreams[0].Healthy })
	// In the outage, protected names are answered without asking upstream.
	before := up.count("shop.tickets.test") + up.count("learned.tickets.test")
	for range 3 {
		if m := ask(t, addr, "shop.tickets.test", dns.TypeA); SourceFromEDE(m) != SourcePinned {
			t.Fatalf("pinned in outage: %s", describe(m))
		}
		if m := ask(t, addr, "learned.tickets.test", dns.TypeA); SourceFromEDE(m) != SourceLearned {
			t.Fatalf("learned in outage: %s", describe(m))
		}
		if m := ask(t, addr, "fresh.tickets.test", dns.TypeA); SourceFromEDE(m) != SourceLearned {
			t.Fatalf("protected name with a fresh cache entry in outage: %s; want the learned answer", describe(m))
		}
	}
	if after := up.count("shop.tickets.test") + up.count("learned.tickets.test"); after != before {
		t.Fatalf("upstream asked %d times about protected names during the outage", after-before)
	}
	// A protected name without backup is reported for the tray.
	ask(t, addr, "nobackup.tickets.test", dns.TypeA)
	if s := r.Status(); !slices.Contains(s.NoBackup, "nobackup.tickets.test.") {
		t.Errorf("NoBackup %v lacks nobackup.tickets.test.", s.NoBackup)
	}

	up.set("ok")
	waitState(t, r, StateNormal) // probes: recovering, then normal after 2 good ones
	m := ask(t, addr, "shop.tickets.test", dns.TypeA)
	if SourceFromEDE(m) != "" || strings.HasPrefix(addrsOf(m), "192.0.2.") {
		t.Fatalf("after recovery: %s; want the live answer", describe(m))
	}
	if !r.Status().Upstreams[0].Healthy {
		t.Errorf("upstream still marked down after it answered")
	}
}

// TestNoiseNeverDeclaresOutage: REFUSED, SERVFAIL and silence for names
// outside the platform (broken domains, a resolver refusing some names) say
// nothing about the platform: the state stays normal, the upstream counts
// as answering, and platform names are answered live.
func TestNoiseNeverDeclaresOutage(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r, addr := startResolver(t, testConfig(up.addr), nil)
	changed := r.Changed()
	done := make(chan *dns.Msg, 60)
	for i := range 60 { // concurrent and sequential noise
		name := []string{"refused.", "servfail.", "silent."}[i%3] + strconv.Itoa(i) + ".other.test"
		if i < 30 {
			go func() { done <- askNoFatal(addr, name) }()
		} else {
			done <- ask(t, addr, name, dns.TypeA)
		}
	}
	for range 60 {
		if m := <-done; m == nil || m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("noise query: %v; want SERVFAIL passed on", m)
		}
	}
	select {
	case <-changed:
		t.Fatalf("state changed by noise: %s (%s)", r.Status().State, r.Status().StateReason)
	default:
	}
	s := r.Status()
	if s.State != StateNormal || !s.Upstreams[0].Healthy {
		t.Fatalf("after noise: state %s, upstream %+v; want normal and answering", s.State, s.Upstreams[0])
	}
	if m := ask(t, addr, "shop.tickets.test", dns.TypeA); SourceFromEDE(m) != "" || strings.HasPrefix(addrsOf(m), "192.0.2.") {
		t.Fatalf("platform name after the noise: %s; want the live answer", describe(m))
	}
	if up.probes() != 0 {
		t.Errorf("%d probes sent while all was well", up.probes())
	}
	// A broken domain's silence does not make the upstream down (it
	// answered other queries meanwhile, or its liveness check): no
	// SERVFAIL at once for others.
	if m := ask(t, addr, "new.other.test", dns.TypeA); SourceFromEDE(m) != "" || addrsOf(m) == "" {
		t.Fatalf("other name after a broken domain's silence: %s; want live", describe(m))
	}
	if !r.Status().Upstreams[0].Healthy {
		t.Fatalf("upstream marked down after a broken domain's silence")
	}
}

// TestLivenessCheck: a lone query the upstream leaves unanswered (a broken
// domain) makes it suspect and sends a liveness check (". NS"); answered,
// the upstream is not down and other names are not failed at once.
func TestLivenessCheck(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r, addr := startResolver(t, testConfig(up.addr), nil)
	if m := ask(t, addr, "silent.broken.test", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("silent name: %s, want SERVFAIL", describe(m))
	}
	waitFor(t, "a liveness check", func() bool { return up.count(".") > 0 })
	if m := ask(t, addr, "new.other.test", dns.TypeA); SourceFromEDE(m) != "" || addrsOf(m) == "" {
		t.Fatalf("after an answered liveness check: %s; want live", describe(m))
	}
	if s := r.Status(); !s.Upstreams[0].Healthy || s.State != StateNormal {
		t.Fatalf("after an answered liveness check: %+v, state %s", s.Upstreams, s.State)
	}
}

// TestConcurrentMixedResultsCountOnce: a burst of concurrent lookups of
// platform names with mixed results (every other one SERVFAIL) is one
// result, not a string of state flips (before: 14 changes in 50 ms).
func TestConcurrentMixedResultsCountOnce(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	cfg := testConfig(up.addr)
	cfg.ProbeInterval = time.Hour // only the clients' lookups speak here
	var logs syncBuf
	r := startWith(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	addr := r.Addrs()[0]
	up.platform.Store("flaky")
	// Every lookup of the burst is under way before the first answer
	// leaves the upstream: concurrent by construction, not by luck.
	gate := make(chan struct{})
	up.gate.Store(&gate)
	done := make(chan *dns.Msg)
	for i := range 100 {
		go func() { done <- askNoFatal(addr, "p"+strconv.Itoa(i)+".tickets.test") }()
	}
	waitFor(t, "100 platform lookups at the upstream", func() bool {
		n := 0
		for i := range 100 {
			n += min(up.count("p"+strconv.Itoa(i)+".tickets.test."), 1)
		}
		return n == 100
	})
	up.gate.Store(nil)
	close(gate)
	for range 100 {
		if m := <-done; m == nil {
			t.Fatal("a platform name went unanswered")
		}
	}
	if n := strings.Count(logs.String(), "platform DNS state changed"); n > 1 {
		t.Fatalf("%d state changes from one burst of concurrent lookups, want at most 1:\n%s", n, logs.String())
	}
	if s := r.Status(); s.State == StateOutage {
		t.Fatalf("one burst of concurrent lookups declared an outage")
	}
}

// syncBuf collects log lines from the resolver's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// askNoFatal is ask for goroutines other than the test's.
func askNoFatal(addr, name string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	m.SetEdns0(1232, false)
	r, _, err := (&dns.Client{Timeout: 10 * time.Second}).Exchange(m, addr)
	if err != nil {
		return nil
	}
	return r
}

// TestPlatformAuthoritativeDown is the incident dnspin exists for: the
// recursive resolver works, only the platform's authoritative servers are
// down, so only platform names fail (SERVFAIL, or silence). Probes of
// random platform names see it and see it end; other names stay live and
// the upstream counts as answering throughout.
func TestPlatformAuthoritativeDown(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"servfail", "drop"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			up := startUpstream(t)
			clock := newClock()
			r, addr := startResolver(t, testConfig(up.addr), clock)
			live := ask(t, addr, "www.tickets.test", dns.TypeA) // learned
			clock.Advance(time.Hour)
			up.platform.Store(mode)

			for _, n := range []string{"shop.tickets.test", "www.tickets.test"} {
				if m := ask(t, addr, n, dns.TypeA); SourceFromEDE(m) != SourcePinned && SourceFromEDE(m) != SourceLearned {
					t.Fatalf("%s as the platform's DNS fails: %s; want its backup", n, describe(m))
				}
			}
			waitState(t, r, StateOutage)
			if m := ask(t, addr, "www.tickets.test", dns.TypeA); addrsOf(m) != addrsOf(live) || SourceFromEDE(m) != SourceLearned {
				t.Fatalf("learned name in the outage: %s; want learned %s", describe(m), addrsOf(live))
			}
			if m := ask(t, addr, "new.other.test", dns.TypeA); SourceFromEDE(m) != "" || addrsOf(m) == "" {
				t.Fatalf("other name in the platform's outage: %s; want live", describe(m))
			}
			if s := r.Status(); !s.Upstreams[0].Healthy {
				t.Fatalf("upstream marked down while it answers: %+v", s.Upstreams)
			}

			up.platform.Store("")
			waitState(t, r, StateNormal)
			if m := ask(t, addr, "shop.tickets.test", dns.TypeA); SourceFromEDE(m) != "" || strings.HasPrefix(addrsOf(m), "192.0.2.") {
				t.Fatalf("after the platform's DNS is back: %s; want live", describe(m))
			}
		})
	}
}

// TestSlowPlatformDegraded: an upstream that answers platform names, but
// always slower than answer_budget, is degraded, not an outage: backups
// answer at once while live lookups refresh the cache in the background,
// and fresh live answers are served from the cache.
func TestSlowPlatformDegraded(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r, addr := startResolver(t, testConfig(up.addr), nil)
	up.platform.Store("lag")
	if m := ask(t, addr, "shop.tickets.test", dns.TypeA); SourceFromEDE(m) != SourcePinned {
		t.Fatalf("pinned name, slow upstream: %s; want the pin after answer_budget", describe(m))
	}
	waitState(t, r, StateDegraded)
	// The first lookup's answer came late and filled the cache: served.
	waitFor(t, "the late live answer in the cache", func() bool {
		m := askNoFatal(addr, "shop.tickets.test")
		return m != nil && SourceFromEDE(m) == "" && !strings.HasPrefix(addrsOf(m), "192.0.2.")
	})
	// A name not cached yet: its backup at once, the live answer next.
	n := up.count("edge.cdn.tickets.test")
	if m := ask(t, addr, "edge.cdn.tickets.test", dns.TypeA); SourceFromEDE(m) != SourcePinned {
		t.Fatalf("degraded, pinned name not cached: %s; want the pin", describe(m))
	}
	waitFor(t, "a background refresh of edge.cdn.tickets.test", func() bool { return up.count("edge.cdn.tickets.test") > n })
	waitFor(t, "the refreshed live answer", func() bool {
		m := askNoFatal(addr, "edge.cdn.tickets.test")
		return m != nil && SourceFromEDE(m) == "" && !strings.HasPrefix(addrsOf(m), "192.0.2.")
	})
	// Slow probes keep it degraded: never an outage, never normal.
	p := up.probes()
	waitFor(t, "three more probes", func() bool { return up.probes() >= p+3 })
	if s := r.Status(); s.State != StateDegraded {
		t.Fatalf("slow upstream after more probes: %s (%s); want degraded", s.State, s.StateReason)
	}
	up.platform.Store("")
	waitState(t, r, StateNormal)
}

// TestFastFailWhenUpstreamsDown: once every upstream is known silent
// (a query unanswered, then its liveness check too), names with no stale
// answer get SERVFAIL at once, not after client_timeout, while the lookup
// goes on in the background.
func TestFastFailWhenUpstreamsDown(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r, addr := startResolver(t, testConfig(up.addr), nil)
	up.set("drop")
	m := ask(t, addr, "first.other.test", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure || !strings.Contains(edeOf(m).ExtraText, "client_timeout") {
		t.Fatalf("first query to a silent upstream: %s %v; want SERVFAIL after client_timeout", describe(m), edeOf(m))
	}
	waitFor(t, "the silent upstream marked down", func() bool { return !r.Status().Upstreams[0].Healthy })
	if s := r.Status(); s.State != StateNormal {
		t.Errorf("a silent upstream for an unprotected name moved the platform's state: %s", s.State)
	}
	m = ask(t, addr, "second.other.test", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure || !strings.Contains(edeOf(m).ExtraText, "no upstream server answers") {
		t.Fatalf("query with every upstream down: %s %v; want SERVFAIL at once", describe(m), edeOf(m))
	}
	waitFor(t, "the lookup going on in the background", func() bool { return up.count("second.other.test") > 0 })
	// A protected name gets its backup at once too.
	if m := ask(t, addr, "shop.tickets.test", dns.TypeA); SourceFromEDE(m) != SourcePinned {
		t.Fatalf("pinned name with every upstream down: %s", describe(m))
	}
	up.set("ok")
	waitFor(t, "the upstream answering again", func() bool { return r.Status().Upstreams[0].Healthy })
	if m := ask(t, addr, "third.other.test", dns.TypeA); SourceFromEDE(m) != "" || addrsOf(m) == "" {
		t.Fatalf("after the upstream is back: %s; want live", describe(m))
	}
}

func TestLearnedSurviveRestart(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	dir := t.TempDir()
	clock := newClock()
	cfg := testConfig(up.addr)
	cfg.StateDir = dir
	r1, addr := startResolver(t, cfg, clock)
	live := ask(t, addr, "learned.tickets.test", dns.TypeAAAA)
	if err := r1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, learnedFileName)); err != nil {
		t.Fatalf("learned answers not saved: %v", err)
	}

	up.set("drop")
	clock.Advance(24 * time.Hour)
	r2, addr := startResolver(t, cfg, clock)
	if s := r2.Status(); s.Learned != 1 {
		t.Fatalf("after restart %d learned names, want 1", s.Learned)
	}
	m := ask(t, addr, "learned.tickets.test", dns.TypeAAAA)
	if addrsOf(m) != addrsOf(live) || SourceFromEDE(m) != SourceLearned {
		t.Fatalf("after restart in outage: %s; want learned %s", describe(m), addrsOf(live))
	}
	// Older than max_stale: gone.
	clock.Advance(72 * time.Hour)
	r2.SetMode(ModePinned)
	if m := ask(t, addr, "learned.tickets.test", dns.TypeAAAA); SourceFromEDE(m) == SourceLearned {
		t.Fatalf("learned answer older than max_stale still served: %s", describe(m))
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r, addr := startResolver(t, testConfig(up.addr), nil)

	live := ask(t, addr, "shop.tickets.test", dns.TypeA) // now cached, fresh
	r.SetMode(ModePinned)
	m := ask(t, addr, "shop.tickets.test", dns.TypeA)
	if SourceFromEDE(m) != SourcePinned || up.count("shop.tickets.test") != 1 {
		t.Fatalf("pinned mode: %s, upstream asked %d times; want the pin, not the cached %s", describe(m), up.count("shop.tickets.test"), addrsOf(live))
	}
	if m := ask(t, addr, "www.other.test", dns.TypeA); SourceFromEDE(m) != "" || addrsOf(m) == "" {
		t.Fatalf("pinned mode, unprotected name: %s; want live", describe(m))
	}

	r.SetMode(ModePassthrough)
	m = ask(t, addr, "shop.tickets.test", dns.TypeA)
	if SourceFromEDE(m) != "" || strings.HasPrefix(addrsOf(m), "192.0.2.") {
		t.Fatalf("passthrough: %s; want the upstream's answer", describe(m))
	}
	up.set("servfail")
	if m := ask(t, addr, "cdn.tickets.test", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("passthrough with failing upstream: %s; want SERVFAIL, no pins", describe(m))
	}
	if m := ask(t, addr, "a.cdn.tickets.test", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("passthrough with failing upstream, wildcard pin: %s; want SERVFAIL", describe(m))
	}
	if r.Mode() != ModePassthrough {
		t.Fatalf("Mode() = %s", r.Mode())
	}
}

func TestModeChangeSignals(t *testing.T) {
	t.Parallel()
	r, err := New(testConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ch := r.Changed()
	r.SetMode(ModeAuto) // no change, no signal
	select {
	case <-ch:
		t.Fatal("Changed closed without a change")
	default:
	}
	r.SetMode(ModePinned)
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed on a mode change")
	}
	if r.Status().Mode != ModePinned {
		t.Fatal("status mode not updated")
	}
}

func TestWildcardPinsAndCanary(t *testing.T) {
	t.Parallel()
	r, err := New(testConfig(), Options{}) // no upstreams at all
	if err != nil {
		t.Fatal(err)
	}
	r.SetMode(ModePinned)
	tests := []struct {
		name  string
		qtype uint16
		want  string // addresses, or an rcode
	}{
		{"a.cdn.tickets.test", dns.TypeA, "192.0.2.20"},
		{"x.y.cdn.tickets.test", dns.TypeAAAA, "2001:db8::20"},
		{"EDGE.cdn.tickets.test", dns.TypeA, "192.0.2.21"}, // exact beats wildcard
		{"edge.cdn.tickets.test", dns.TypeAAAA, ""},        // exact pin has no AAAA: NODATA
		{"cdn.tickets.test", dns.TypeA, "SERVFAIL"},        // the wildcard does not cover its own name
		{"use-application-dns.net", dns.TypeA, "NXDOMAIN"},
		{"Use-Application-DNS.net", dns.TypeAAAA, "NXDOMAIN"},
	}
	for _, tt := range tests {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(tt.name), tt.qtype)
		out, _ := r.answer(context.Background(), q, false)
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := addrsOf(m)
		if m.Rcode != dns.RcodeSuccess {
			got = dns.RcodeToString[m.Rcode]
		}
		if got != tt.want {
			t.Errorf("%s %s: got %q, want %q", tt.name, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	_, addr := startResolver(t, testConfig(up.addr), nil)
	c := &dns.Client{Timeout: 5 * time.Second}
	tests := []struct {
		name  string
		build func(m *dns.Msg)
		rcode int
	}{
		{"ANY", func(m *dns.Msg) { m.SetQuestion("x.other.test.", dns.TypeANY) }, dns.RcodeSuccess},
		{"CHAOS", func(m *dns.Msg) { m.SetQuestion("version.bind.", dns.TypeTXT); m.Question[0].Qclass = dns.ClassCHAOS }, dns.RcodeRefused},
		{"two questions", func(m *dns.Msg) {
			m.SetQuestion("a.other.test.", dns.TypeA)
			m.Question = append(m.Question, m.Question[0])
		}, dns.RcodeFormatError},
		{"no question", func(m *dns.Msg) { m.Id = 7 }, dns.RcodeFormatError},
		{"NOTIFY", func(m *dns.Msg) { m.SetNotify("other.test.") }, dns.RcodeNotImplemented},
		{"AXFR", func(m *dns.Msg) { m.SetQuestion("other.test.", dns.TypeAXFR) }, dns.RcodeRefused},
		{"EDNS version 1", func(m *dns.Msg) {
			m.SetQuestion("a.other.test.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
		}, dns.RcodeBadVers},
	}
	for _, tt := range tests {
		m := new(dns.Msg)
		tt.build(m)
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if r.Rcode != tt.rcode {
			t.Errorf("%s: %s, want %s", tt.name, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
		}
		if tt.name == "ANY" {
			if len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeHINFO {
				t.Errorf("ANY: %v; want one HINFO (RFC 8482)", r.Answer)
			}
		}
	}
	if up.count("x.other.test") != 0 {
		t.Error("ANY was forwarded")
	}

	// Raw packets: garbage after a valid header gets FORMERR; a reply is
	// never answered; the server keeps working.
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err != nil || n != 12 || buf[0] != 0x12 || buf[1] != 0x34 || buf[3]&0xF != dns.RcodeFormatError {
		t.Fatalf("garbage: got %x (%v), want FORMERR header", buf[:n], err)
	}
	reply := new(dns.Msg)
	reply.SetQuestion("a.other.test.", dns.TypeA)
	reply.Response = true
	b, _ := reply.Pack()
	conn.Write(b)
	conn.Write([]byte{1, 2, 3}) // too short to answer
	q := new(dns.Msg)
	q.SetQuestion("after.other.test.", dns.TypeA)
	b, _ = q.Pack()
	conn.Write(b)
	n, err = conn.Read(buf)
	got := new(dns.Msg)
	if err != nil || got.Unpack(buf[:n]) != nil || got.Id != q.Id {
		t.Fatalf("after bad packets: %v, id %d want %d (a reply or short packet was answered?)", err, got.Id, q.Id)
	}
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Listen = []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:53")}
	_, err := New(cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "AllowRemote") || !strings.Contains(err.Error(), "192.0.2.1:53") {
		t.Fatalf("non-loopback listen: %v; want a refusal naming the address and AllowRemote", err)
	}
	cfg.AllowRemote = true
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "client list") {
		t.Fatalf("allow_remote without a client list: %v; want a refusal asking for one", err)
	}
	cfg.AllowClients = []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}
	if _, err := New(cfg, Options{}); err != nil {
		t.Fatalf("with allow_remote and a client list: %v", err)
	}
	cfg = testConfig("not-an-address")
	if _, err := New(cfg, Options{}); err == nil {
		t.Fatal("bad upstream accepted")
	}
	cfg = testConfig()
	cfg.Mode = "sometimes"
	if _, err := New(cfg, Options{}); err == nil {
		t.Fatal("bad mode accepted")
	}
}

func TestListenError(t *testing.T) {
	t.Parallel()
	_, addr := startResolver(t, testConfig(), nil)
	cfg := testConfig()
	cfg.Listen = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0"), netip.MustParseAddrPort(addr)} // the first binds, the second is taken
	r, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Start(context.Background())
	var le *ListenError
	if !errors.As(err, &le) || le.Addr != addr || le.Net != "udp" {
		t.Fatalf("Start: %v; want *ListenError for udp %s", err, addr)
	}
	if want := "cannot listen on udp " + addr + ": address already in use"; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
	if len(r.Addrs()) != 0 {
		t.Errorf("Addrs after failure: %v", r.Addrs())
	}
	// The first address was released: it can be bound again at once.
	_, addr2 := startResolver(t, testConfig(), nil)
	if addr2 == "" {
		t.Fatal("no address")
	}
}

func TestReconfigureAndBundlePins(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r, addr := startResolver(t, testConfig(up.addr), nil)
	r.SetMode(ModePinned)

	r.SetBundlePins([]Pin{
		{Name: "box.tickets.test", A: []netip.Addr{netip.MustParseAddr("192.0.2.50")}},
		{Name: "shop.tickets.test", A: []netip.Addr{netip.MustParseAddr("192.0.2.99")}}, // config wins
		{Name: "evil.example", A: []netip.Addr{netip.MustParseAddr("192.0.2.66")}},      // not protected: ignored
		{Name: "empty.tickets.test"}, // no addresses: ignored
		{Name: "v4in6.tickets.test", AAAA: []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.1")}}, // not IPv6: ignored
		{Name: "zoned.tickets.test", AAAA: []netip.Addr{netip.MustParseAddr("fe80::1%eth0")}},     // zoned (dnsname.CheckPin): ignored
	})
	for name, want := range map[string]string{"box.tickets.test": "192.0.2.50", "shop.tickets.test": "192.0.2.10,192.0.2.11"} {
		if m := ask(t, addr, name, dns.TypeA); addrsOf(m) != want {
			t.Errorf("bundle pins: %s = %s, want %s", name, describe(m), want)
		}
	}
	if m := ask(t, addr, "evil.example", dns.TypeA); strings.HasPrefix(addrsOf(m), "192.0.2.") {
		t.Errorf("pin outside the protected domains used: %s", describe(m))
	}
	if n := r.Status().Pins; n != 4 { // 3 config + box
		t.Errorf("pins in effect %d, want 4", n)
	}

	cfg := testConfig(up.addr)
	cfg.Listen = []netip.AddrPort{netip.MustParseAddrPort(addr)}
	cfg.Pins = []Pin{{Name: "shop.tickets.test", A: []netip.Addr{netip.MustParseAddr("192.0.2.77")}}}
	if err := r.Reconfigure(cfg); err == nil || !strings.Contains(err.Error(), "restart needed") {
		t.Fatalf("Reconfigure with another listen address: %v; want restart needed", err)
	}
	cfg.Listen = testConfig().Listen
	cfg.Mode = ModePinned
	if err := r.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if m := ask(t, addr, "shop.tickets.test", dns.TypeA); addrsOf(m) != "192.0.2.77" {
		t.Errorf("after Reconfigure: %s, want the new pin", describe(m))
	}
	if m := ask(t, addr, "box.tickets.test", dns.TypeA); addrsOf(m) != "192.0.2.50" {
		t.Errorf("bundle pins lost by Reconfigure: %s", describe(m))
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r, _ := startResolver(t, testConfig(up.addr), nil)
	addrs, src, err := r.Lookup(context.Background(), "mirror.other.test", dns.TypeA)
	if err != nil || len(addrs) != 1 || src != SourceUpstream {
		t.Fatalf("Lookup live: %v %s %v", addrs, src, err)
	}
	up.set("drop")
	addrs, src, err = r.Lookup(context.Background(), "shop.tickets.test", dns.TypeA)
	if err != nil || len(addrs) != 2 || src != SourcePinned {
		t.Fatalf("Lookup pinned while upstream is dark: %v %s %v", addrs, src, err)
	}
	_, src, err = r.Lookup(context.Background(), "gone.other.test", dns.TypeA)
	if err == nil || src != SourceServfail || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Fatalf("Lookup with no answer: %s %v", src, err)
	}
	// dnspin's own lookups are not client answers: `dnspin check` proves
	// the system reaches dnspin by these counters rising.
	for src, n := range r.Status().Answers {
		if n != 0 {
			t.Errorf("Lookup counted %d %s answers; want none", n, src)
		}
	}
}

func TestSpoofedRepliesIgnored(t *testing.T) {
	t.Parallel()
	// A raw UDP "server" that first sends a reply with the wrong ID, then
	// one for another question, then the right one.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 1500)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := new(dns.Msg)
		q.Unpack(buf[:n])
		send := func(m *dns.Msg) { b, _ := m.Pack(); pc.WriteTo(b, from) }
		bad := new(dns.Msg)
		bad.SetReply(q)
		bad.Id++
		bad.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(6, 6, 6, 6)}}
		send(bad)
		other := bad.Copy()
		other.Id = q.Id
		other.Question[0].Name = "other.test."
		send(other)
		good := bad.Copy()
		good.Id = q.Id
		good.Answer[0].(*dns.A).A = net.IPv4(198, 18, 0, 1)
		send(good)
	}()
	u := newUDPUpstream(pc.LocalAddr().String())
	q := new(dns.Msg)
	q.SetQuestion("real.other.test.", dns.TypeA)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := u.Exchange(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if addrsOf(r) != "198.18.0.1" || r.Id != q.Id {
		t.Fatalf("got %s id %d; want the matching reply with the query's id %d", addrsOf(r), r.Id, q.Id)
	}
}

// TestCacheBounded: a full shard makes room by dropping its oldest entry;
// a key stored again keeps its place and does not count twice.
func TestCacheBounded(t *testing.T) {
	t.Parallel()
	c := newCache(cacheShards * 2) // two entries per shard
	e := &entry{expires: time.Now().Add(time.Hour).UnixNano()}
	var keys []string
	for i := range 1000 {
		k := "k" + strconv.Itoa(i)
		keys = append(keys, k)
		c.put(k, e)
		c.put(k, e) // again: no second place
	}
	if n := c.len(); n != cacheShards*2 {
		t.Fatalf("%d entries, want %d (2 per shard)", n, cacheShards*2)
	}
	// Per shard, the two newest of its keys are the ones left.
	newest := map[*cacheShard][]string{}
	for i := len(keys) - 1; i >= 0; i-- {
		s := c.shard([]byte(keys[i]))
		if len(newest[s]) < 2 {
			newest[s] = append(newest[s], keys[i])
		}
	}
	for s, ks := range newest {
		for _, k := range ks {
			if c.get([]byte(k)) == nil {
				t.Errorf("%s, among the two newest of its shard, was dropped", k)
			}
		}
		if len(s.m) != 2 || len(s.ring) != 2 {
			t.Errorf("shard holds %d entries, ring %d; want 2 and 2", len(s.m), len(s.ring))
		}
	}
	c.flush()
	if n := c.len(); n != 0 {
		t.Fatalf("%d entries after flush", n)
	}
	c.put("after", e)
	if c.get([]byte("after")) == nil || c.len() != 1 {
		t.Fatal("the cache does not fill again after a flush")
	}
}

// TestPlainUDPLoop covers the one-packet-per-call loop used where batches
// are not available (not Linux).
func TestPlainUDPLoop(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r, err := New(testConfig(up.addr), Options{})
	if err != nil {
		t.Fatal(err)
	}
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { r.serveUDPPlain(uc); close(done) }()
	for range 2 { // miss, then hit
		if m := ask(t, uc.LocalAddr().String(), "plain.other.test", dns.TypeA); addrsOf(m) == "" {
			t.Fatalf("plain loop: %s", describe(m))
		}
	}
	if up.count("plain.other.test") != 1 || r.Status().Answers[SourceCache] != 1 {
		t.Fatalf("upstream asked %d times, cache answers %d", up.count("plain.other.test"), r.Status().Answers[SourceCache])
	}
	uc.Close()
	<-done
	r.Shutdown(context.Background())
}

func TestIPv6Listener(t *testing.T) {
	t.Parallel()
	if c, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		c.Close()
	}
	up := startUpstream(t)
	cfg := testConfig(up.addr)
	cfg.Listen = []netip.AddrPort{netip.MustParseAddrPort("[::1]:0"), netip.MustParseAddrPort("127.0.0.1:0")}
	r, _ := startResolver(t, cfg, nil)
	addrs := r.Addrs()
	if len(addrs) != 2 || !strings.HasPrefix(addrs[0], "[::1]:") {
		t.Fatalf("Addrs %v", addrs)
	}
	for range 2 { // miss, then a hit from the batch path
		if m := ask(t, addrs[0], "v6.other.test", dns.TypeAAAA); addrsOf(m) == "" {
			t.Fatalf("over IPv6: %s", describe(m))
		}
	}
	if m := ask(t, addrs[0], "v6.other.test", dns.TypeAAAA, overTCP); addrsOf(m) == "" {
		t.Fatalf("over IPv6 TCP: %s", describe(m))
	}
	if n := r.Status().Answers[SourceCache]; n != 2 {
		t.Errorf("cache answers %d, want 2", n)
	}
}

// TestSurvivesPanics: a bug while answering one query costs that query a
// SERVFAIL, not the machine its DNS.
func TestSurvivesPanics(t *testing.T) {
	t.Parallel()
	cfg := testConfig("192.0.2.53:53")
	r := startWith(t, cfg, Options{Upstreams: func(addr string) Upstream {
		return &funcUpstream{addr: addr, exchange: func(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
			if strings.HasPrefix(m.Question[0].Name, "boom") {
				panic("boom")
			}
			return memUpstream(addr).Exchange(ctx, m)
		}}
	}})
	addr := r.Addrs()[0]
	if m := ask(t, addr, "boom.other.test", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("panicking upstream: %s, want SERVFAIL", describe(m))
	}
	if m := ask(t, addr, "fine.other.test", dns.TypeA); addrsOf(m) != "198.18.0.1" {
		t.Fatalf("after the panic: %s", describe(m))
	}
}

// TestUpstreamOrder: a silent first upstream costs the first query a short
// wait, not the answer; after that the healthy one is asked first.
func TestUpstreamOrder(t *testing.T) {
	t.Parallel()
	dead, good := startUpstream(t), startUpstream(t)
	dead.set("drop")
	r, addr := startResolver(t, testConfig(dead.addr, good.addr), nil)
	if m := ask(t, addr, "first.other.test", dns.TypeA); addrsOf(m) == "" {
		t.Fatalf("first query with a silent first upstream: %s", describe(m))
	}
	for _, n := range []string{"second.other.test", "third.other.test"} {
		if m := ask(t, addr, n, dns.TypeA); addrsOf(m) == "" {
			t.Fatalf("%s: %s", n, describe(m))
		}
		if dead.count(n) != 0 {
			t.Errorf("%s went to the silent upstream first", n)
		}
	}
	// The silent one failed its liveness check: down in the status.
	waitFor(t, "the silent upstream marked down", func() bool { return !r.Status().Upstreams[0].Healthy })
	st := r.Status().Upstreams
	if len(st) != 2 || st[0].Healthy || !st[1].Healthy || st[1].RTT <= 0 {
		t.Errorf("upstream status %+v; want the first unhealthy, the second healthy with an RTT", st)
	}
	// SERVFAIL from one upstream makes the next one go at once.
	dead.set("servfail")
	good.set("servfail")
	if m := ask(t, addr, "both.other.test", dns.TypeA); m.Rcode != dns.RcodeServerFailure ||
		!strings.Contains(edeOf(m).ExtraText, "SERVFAIL") {
		t.Fatalf("both failing: %s %v", describe(m), edeOf(m))
	}
	if dead.count("both.other.test") != 1 || good.count("both.other.test") != 1 {
		t.Errorf("asked %d and %d times, want once each", dead.count("both.other.test"), good.count("both.other.test"))
	}
}

// TestConcurrentChanges runs queries while pins, mode and config change
// (for the race detector: every swap must be atomic).
func TestConcurrentChanges(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	r, addr := startResolver(t, testConfig(up.addr), nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			r.SetBundlePins([]Pin{{Name: "b" + strconv.Itoa(i) + ".tickets.test", A: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}})
			r.SetMode([]Mode{ModeAuto, ModePinned, ModePassthrough}[i%3])
			if err := r.Reconfigure(testConfig(up.addr)); err != nil {
				t.Error(err)
				return
			}
			_ = r.Status()
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
			return
		default:
		}
		m := ask(t, addr, []string{"shop.tickets.test", "www.other.test", "b1.tickets.test"}[i%3], dns.TypeA)
		if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("answer during changes: %s", describe(m))
		}
	}
}

// TestUpstreamSocketsClosed: an upstream dropped by Reconfigure, and every
// upstream at Shutdown, closes its sockets; reloads must not pile
// up open sockets in a service that runs for months.
func TestUpstreamSocketsClosed(t *testing.T) {
	t.Parallel()
	up1, up2 := startUpstream(t), startUpstream(t)
	r, addr := startResolver(t, testConfig(up1.addr), nil)
	// pooled asks name through r and returns the socket the exchange left
	// in the pool of the only upstream.
	pooled := func(name string) *net.UDPConn {
		t.Helper()
		if m := ask(t, addr, name, dns.TypeA); m.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: %s", name, describe(m))
		}
		u := r.cfg.Load().ups[0].u.(*udpUpstream)
		u.mu.Lock()
		defer u.mu.Unlock()
		if len(u.socks) == 0 {
			t.Fatalf("no open socket for %s after a clean exchange", u.addr)
		}
		return u.socks[0].c
	}
	isClosed := func(c *net.UDPConn) bool {
		_, err := c.Write([]byte{0})
		return errors.Is(err, net.ErrClosed)
	}

	c1 := pooled("one.other.test")
	if err := r.Reconfigure(testConfig(up2.addr)); err != nil {
		t.Fatal(err)
	}
	// The socket's Close runs on a goroutine of its own (it may have to
	// wait for the socket's reader): wait for it.
	waitFor(t, "socket of the upstream Reconfigure dropped closed", func() bool { return isClosed(c1) })
	c2 := pooled("two.other.test")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "upstream socket closed after Shutdown", func() bool { return isClosed(c2) })
}
