package resolver

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testUpstream is a real miekg/dns server on 127.0.0.1 (UDP and TCP on the
// same port) whose behaviour tests switch at run time.
type testUpstream struct {
	addr string
	mode atomic.Value // "ok", "drop", "servfail", "refused", "slow", "lag"
	// platform, when not "", is the mode for names under tickets.test
	// only: the platform's authoritative servers fail behind a working
	// recursive resolver. Names starting "refused.", "servfail." or
	// "silent." always get that answer (none for silent): noise from broken
	// domains. Mode "flaky" answers every other query SERVFAIL.
	platform atomic.Value
	ttl      atomic.Uint32
	slow     time.Duration
	tcpN     atomic.Int32
	flakyN   atomic.Int32
	// gate, when set, holds every answer until it is closed: lookups that
	// must overlap in time do, however the scheduler runs them.
	gate  atomic.Pointer[chan struct{}]
	mu    sync.Mutex
	seen  map[string]int // lower-case name -> queries
	lastQ *dns.Msg
}

func startUpstream(t testing.TB) *testUpstream {
	t.Helper()
	u := &testUpstream{seen: map[string]int{}, slow: time.Second}
	u.mode.Store("ok")
	u.platform.Store("")
	u.ttl.Store(300)
	var pc net.PacketConn
	var l net.Listener
	for try := 0; l == nil; try++ { // UDP and TCP on the same port
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		u.addr = pc.LocalAddr().String()
		if l, err = net.Listen("tcp", u.addr); err != nil {
			pc.Close()
			if try > 20 {
				t.Fatal(err)
			}
		}
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: u}, {Listener: l, Handler: u}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		<-started
		t.Cleanup(func() { s.Shutdown() })
	}
	return u
}

func (u *testUpstream) set(mode string) { u.mode.Store(mode) }

func (u *testUpstream) count(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[strings.ToLower(dns.Fqdn(name))]
}

func (u *testUpstream) last() *dns.Msg {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lastQ
}

func (u *testUpstream) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	if len(q.Question) != 1 {
		return
	}
	qq := q.Question[0]
	name := strings.ToLower(qq.Name)
	u.mu.Lock()
	u.seen[name]++
	u.lastQ = q.Copy()
	u.mu.Unlock()
	tcp := w.LocalAddr().Network() == "tcp"
	if tcp {
		u.tcpN.Add(1)
	}
	if g := u.gate.Load(); g != nil {
		select {
		case <-*g:
		case <-time.After(10 * time.Second): // a test that forgot to open it
		}
	}
	m := new(dns.Msg)
	m.SetReply(q)
	m.RecursionAvailable = true
	mode := u.mode.Load().(string)
	if pm := u.platform.Load().(string); pm != "" && strings.HasSuffix(name, "tickets.test.") {
		mode = pm
	}
	switch {
	case strings.HasPrefix(name, "refused."):
		mode = "refused"
	case strings.HasPrefix(name, "servfail."):
		mode = "servfail"
	case strings.HasPrefix(name, "silent."):
		mode = "drop"
	}
	if mode == "flaky" {
		mode = "ok"
		if u.flakyN.Add(1)%2 == 0 {
			mode = "servfail"
		}
	}
	switch mode {
	case "drop":
		return
	case "servfail":
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	case "refused":
		m.Rcode = dns.RcodeRefused
		w.WriteMsg(m)
		return
	case "slow":
		time.Sleep(u.slow)
	case "lag": // slower than testConfig's answer_budget, well within its lookup time
		time.Sleep(300 * time.Millisecond)
	}
	ttl := u.ttl.Load()
	soa := &dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 120},
		Ns: "ns.test.", Mbox: "h.test.", Serial: 1, Refresh: 1, Retry: 1, Expire: 1, Minttl: 60}
	h := dns.RR_Header{Name: qq.Name, Rrtype: qq.Qtype, Class: dns.ClassINET, Ttl: ttl}
	sum := fnv.New32a()
	sum.Write([]byte(name))
	v := sum.Sum32()
	switch {
	case strings.HasPrefix(name, "nx"):
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa}
	case strings.HasPrefix(name, "big.") && qq.Qtype == dns.TypeA:
		for i := range 100 {
			m.Answer = append(m.Answer, &dns.A{Hdr: h, A: net.IPv4(198, 18, 1, byte(i))})
		}
	case qq.Qtype == dns.TypeA:
		m.Answer = []dns.RR{&dns.A{Hdr: h, A: net.IPv4(198, 18, byte(v>>8), byte(v))}}
	case qq.Qtype == dns.TypeAAAA:
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(v >> 8), 15: byte(v)})
		m.Answer = []dns.RR{&dns.AAAA{Hdr: h, AAAA: ip.AsSlice()}}
	default:
		m.Ns = []dns.RR{soa}
	}
	if !tcp {
		size := dns.MinMsgSize
		if opt := q.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

// fakeClock is the injected clock: tests move it instead of sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testConfig protects tickets.test with one pin; timings short enough for
// tests, long enough for a loaded machine.
func testConfig(upstreams ...string) Config {
	return Config{
		Listen:    []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Upstreams: upstreams,
		Domains:   []string{"tickets.test"},
		Pins: []Pin{
			{Name: "shop.tickets.test", A: []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11")}},
			{Name: "*.cdn.tickets.test", A: []netip.Addr{netip.MustParseAddr("192.0.2.20")}, AAAA: []netip.Addr{netip.MustParseAddr("2001:db8::20")}},
			{Name: "edge.cdn.tickets.test", A: []netip.Addr{netip.MustParseAddr("192.0.2.21")}},
		},
		Mode: ModeAuto,
		// A healthy loopback upstream answers in well under a millisecond;
		// these leave room for a loaded machine under -race, where a late
		// live answer would be taken for a failure (pin, degraded state).
		AnswerBudget:  200 * time.Millisecond,
		ClientTimeout: 400 * time.Millisecond, // lookups give up at 2× this, before the 1 s "slow" upstream answers
		StaleTTL:      30 * time.Second,
		MaxStale:      72 * time.Hour,
		ProbeInterval: 10 * time.Millisecond,
		RecoverAfter:  2,
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("DNSPIN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startResolver starts a resolver on 127.0.0.1:0 and returns it with the
// address it answers on.
func startResolver(t *testing.T, cfg Config, clock *fakeClock) (*Resolver, string) {
	t.Helper()
	o := Options{Logger: testLogger(t)}
	if clock != nil {
		o.Now = clock.Now
	}
	r := startWith(t, cfg, o)
	return r, r.Addrs()[0]
}

// startWith starts a resolver with cfg and o and shuts it down when the
// test ends. (Tests outside this package use resolver/resolvertest; this
// package cannot import it.)
func startWith(t testing.TB, cfg Config, o Options) *Resolver {
	t.Helper()
	r, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r.Shutdown(ctx)
	})
	return r
}

type askOpt func(*dns.Msg, *dns.Client)

func noEDNS(m *dns.Msg, _ *dns.Client) {
	m.Extra = nil
}

func withDO(m *dns.Msg, _ *dns.Client) { m.IsEdns0().SetDo() }

func overTCP(_ *dns.Msg, c *dns.Client) { c.Net = "tcp" }

// ask sends one query (EDNS0 by default, like current stub resolvers).
func ask(t *testing.T, addr, name string, qtype uint16, opts ...askOpt) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	c := &dns.Client{Timeout: 10 * time.Second, UDPSize: 65535}
	for _, o := range opts {
		o(m, c)
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}

// addrsOf lists the A/AAAA addresses of an answer.
func addrsOf(m *dns.Msg) string {
	var s []string
	for _, rr := range m.Answer {
		switch v := rr.(type) {
		case *dns.A:
			s = append(s, v.A.String())
		case *dns.AAAA:
			s = append(s, v.AAAA.String())
		}
	}
	return strings.Join(s, ",")
}

func ttlOf(m *dns.Msg) uint32 {
	if len(m.Answer) == 0 {
		return 0
	}
	return m.Answer[0].Header().Ttl
}

// probes counts the probe queries the upstream has seen.
func (u *testUpstream) probes() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for name, c := range u.seen {
		if strings.HasPrefix(name, "dnspin-probe-") {
			n += c
		}
	}
	return n
}

// waitFor polls cond until it holds; the 20 s bound is a safety net for a
// loaded machine, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for stop := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(stop) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits (on Changed, not by polling time) until r is in state s.
func waitState(t *testing.T, r *Resolver, s State) {
	t.Helper()
	deadline := time.After(20 * time.Second) // a safety net, not a timing assertion
	for {
		ch := r.Changed()
		if r.Status().State == s {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("state %s never reached; now %s (%s)", s, r.Status().State, r.Status().StateReason)
		}
	}
}

func describe(m *dns.Msg) string {
	return fmt.Sprintf("%s [%s] source %q", dns.RcodeToString[m.Rcode], addrsOf(m), SourceFromEDE(m))
}
