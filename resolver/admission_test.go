package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Admission control: with a silent upstream and far more queries than the
// caps, every query is answered, and goroutines and sockets stay bounded.

// admissionLimits are caps small enough that a test exceeds them many
// times over with a few hundred queries.
func admissionLimits() *limits {
	return &limits{flights: 8, waiting: 16, tcpConns: 4, trimEvery: 20 * time.Millisecond}
}

func startLimited(t *testing.T, cfg Config, o Options) *Resolver {
	t.Helper()
	o.Logger = testLogger(t)
	return startWith(t, cfg, o)
}

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1 // not Linux: fds are not checked
	}
	return len(es)
}

// peaks samples goroutines and open fds until stop is closed.
type peaks struct {
	goroutines, fds atomic.Int64
	done            chan struct{}
}

func samplePeaks(t *testing.T, stop <-chan struct{}) *peaks {
	p := &peaks{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			if g := int64(runtime.NumGoroutine()); g > p.goroutines.Load() {
				p.goroutines.Store(g)
			}
			if f := int64(openFDs(t)); f > p.fds.Load() {
				p.fds.Store(f)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return p
}

type blastQuery struct {
	name  string
	qtype uint16
}

// blast sends every query at once, spread over a few sockets (the ID is
// the index on its socket), and returns the answers in the same order. A
// query without an answer fails the test: that is the silence this guards
// against. The deadline only ends a failing test; answers come within
// client_timeout.
func blast(t *testing.T, addr string, qs []blastQuery) []*dns.Msg {
	t.Helper()
	const socks = 4
	out := make([]*dns.Msg, len(qs))
	var wg sync.WaitGroup
	conns := make([]*net.UDPConn, socks)
	for s := range socks {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		uc := c.(*net.UDPConn)
		uc.SetReadBuffer(1 << 20)
		defer uc.Close()
		conns[s] = uc
		want := 0
		for i := s; i < len(qs); i += socks {
			want++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			uc.SetReadDeadline(time.Now().Add(60 * time.Second))
			buf := make([]byte, 4096)
			for got := 0; got < want; {
				n, err := uc.Read(buf)
				if err != nil {
					return
				}
				m := new(dns.Msg)
				if m.Unpack(buf[:n]) != nil {
					continue
				}
				i := int(m.Id)*socks + s
				if i < len(qs) && out[i] == nil {
					out[i] = m
					got++
				}
			}
		}()
	}
	for i, q := range qs {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.Id = uint16(i / socks)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conns[i%socks].Write(b); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	missing := 0
	for i, m := range out {
		if m == nil {
			if missing < 5 {
				t.Errorf("no answer to %s %s", qs[i].name, dns.TypeToString[qs[i].qtype])
			}
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d queries got no answer", missing, len(qs))
	}
	return out
}

func (r *Resolver) flightCount() int {
	r.flightMu.Lock()
	defer r.flightMu.Unlock()
	return len(r.flights)
}

func TestAdmissionSilentUpstream(t *testing.T) {
	up := startUpstream(t)
	up.set("drop")
	var trims atomic.Int32
	lim := admissionLimits()
	r := startLimited(t, testConfig(up.addr), Options{limits: lim, freeOSMemory: func() { trims.Add(1) }})
	addr := r.Addrs()[0]
	g0, fd0 := runtime.NumGoroutine(), openFDs(t)

	// 40 times the lookup cap: new unprotected names (nothing to fall back
	// on), and the pinned name (a backup at once, even over capacity).
	var qs []blastQuery
	for i := range 320 {
		qs = append(qs, blastQuery{fmt.Sprintf("u%d.example.", i), dns.TypeA})
		if i%4 == 0 {
			qs = append(qs, blastQuery{"shop.tickets.test.", dns.TypeA})
		}
	}
	stop := make(chan struct{})
	p := samplePeaks(t, stop)
	answers := blast(t, addr, qs)
	close(stop)
	<-p.done

	for i, m := range answers {
		q := qs[i]
		switch {
		case q.name == "shop.tickets.test.":
			if m.Rcode != dns.RcodeSuccess || addrsOf(m) != "192.0.2.10,192.0.2.11" {
				t.Errorf("%s: got %s, want the pin", q.name, describe(m))
			}
		case m.Rcode != dns.RcodeServerFailure:
			t.Errorf("%s with a silent upstream: got %s, want SERVFAIL", q.name, describe(m))
		}
	}
	if r.shed.Load() == 0 {
		t.Fatal("no query was turned away: the test did not exceed the caps")
	}
	// Per lookup: its goroutine and up to maxAttempts exchanges with a
	// socket each; per waiting query a goroutine. The slack covers the test
	// upstream's per-packet goroutines, probes and timers.
	const slack = 60
	if max := int64(g0 + lim.waiting + lim.flights*(1+maxAttempts) + 4 + slack); p.goroutines.Load() > max {
		t.Errorf("goroutines peaked at %d, want at most %d (started at %d)", p.goroutines.Load(), max, g0)
	}
	if fd0 >= 0 {
		if max := int64(fd0 + lim.flights*maxAttempts + 20); p.fds.Load() > max {
			t.Errorf("open fds peaked at %d, want at most %d (started at %d)", p.fds.Load(), max, fd0)
		}
	}

	// Nothing stays behind: once the lookups end, goroutines return to
	// where they were, the memory is handed back once, and the resolver
	// answers live again.
	waitFor(t, "lookups and waiting queries to end", func() bool { return r.flightCount() == 0 && len(r.waiting) == 0 })
	up.set("ok")
	waitState(t, r, StateNormal)
	// Liveness checks and the test upstream's own goroutines come and go;
	// one left per query would be 400.
	const rest = 60
	waitFor(t, fmt.Sprintf("goroutines back near the start (at most %d)", g0+rest),
		func() bool { return runtime.NumGoroutine() <= g0+rest })
	waitFor(t, "memory handed back after the burst", func() bool { return trims.Load() > 0 })
	if m := ask(t, addr, "after.example", dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("after the burst: got %s, want a live answer", describe(m))
	}
}

func TestAdmissionStaleOverCapacity(t *testing.T) {
	up := startUpstream(t)
	up.ttl.Store(1)
	clock := newClock()
	lim := admissionLimits()
	r := startLimited(t, testConfig(up.addr), Options{limits: lim, Now: clock.Now})
	addr := r.Addrs()[0]
	if m := ask(t, addr, "old.example", dns.TypeA); m.Rcode != dns.RcodeSuccess {
		t.Fatalf("warm-up: %s", describe(m))
	}
	clock.Advance(time.Minute) // expired, still within max_stale
	up.set("drop")
	var qs []blastQuery
	for i := range 200 {
		qs = append(qs, blastQuery{fmt.Sprintf("n%d.example.", i), dns.TypeA})
		qs = append(qs, blastQuery{"old.example.", dns.TypeA})
	}
	answers := blast(t, addr, qs)
	stale := 0
	for i, m := range answers {
		if qs[i].name == "old.example." {
			if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
				t.Errorf("old.example: got %s, want the stale answer", describe(m))
			}
			stale++
		}
	}
	if r.shed.Load() == 0 {
		t.Fatal("no query was turned away: the test did not exceed the caps")
	}
	if stale != 200 {
		t.Fatalf("%d stale answers, want 200", stale)
	}
}

func TestAdmissionTCPConnections(t *testing.T) {
	up := startUpstream(t)
	up.set("drop")
	lim := admissionLimits()
	r := startLimited(t, testConfig(up.addr), Options{limits: lim})
	addr := r.Addrs()[0]

	// Fill every connection slot with a query that waits on the silent
	// upstream.
	var held []*dns.Conn
	for i := range lim.tcpConns {
		c, err := dns.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("held%d.example.", i), dns.TypeA)
		if err := c.WriteMsg(m); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitFor(t, "the held queries to wait", func() bool { return len(r.waiting) == lim.tcpConns })

	// One more connection is closed at once instead of hanging.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !strings.Contains(fmt.Sprint(err), "reset") {
		t.Fatalf("connection past the cap: read gave %v, want it closed", err)
	}

	// The held queries are answered (SERVFAIL after client_timeout), and a
	// closed connection gives its slot back.
	for _, h := range held {
		h.SetReadDeadline(time.Now().Add(30 * time.Second))
		m, err := h.ReadMsg()
		if err != nil {
			t.Fatalf("held query: %v", err)
		}
		if m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("held query: got %s, want SERVFAIL", describe(m))
		}
	}
	held[0].Close() // the server sees it closed when it reads next, then frees the slot
	var m *dns.Msg
	waitFor(t, "a free connection slot", func() bool {
		c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
		q := new(dns.Msg)
		q.SetQuestion("shop.tickets.test.", dns.TypeA)
		m, _, err = c.Exchange(q, addr)
		return err == nil
	})
	if addrsOf(m) != "192.0.2.10,192.0.2.11" {
		t.Fatalf("after a slot was freed: got %s, want the pin", describe(m))
	}
}

func TestAdmissionLookup(t *testing.T) {
	up := startUpstream(t)
	up.set("drop")
	lim := admissionLimits()
	lim.waiting = 2
	r := startLimited(t, testConfig(up.addr), Options{limits: lim})

	var wg sync.WaitGroup
	for i := range lim.waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Lookup(context.Background(), fmt.Sprintf("slow%d.example", i), dns.TypeA)
		}()
	}
	waitFor(t, "the lookups to wait", func() bool { return len(r.waiting) == lim.waiting })
	// No slot: answered without waiting, from the pin or with the reason.
	addrs, src, err := r.Lookup(context.Background(), "shop.tickets.test", dns.TypeA)
	if err != nil || src != SourcePinned || len(addrs) != 2 {
		t.Errorf("pinned name over capacity: %v %s %v, want the pin", addrs, src, err)
	}
	_, _, err = r.Lookup(context.Background(), "other.example", dns.TypeA)
	if err == nil || !strings.Contains(err.Error(), "over capacity") {
		t.Errorf("new name over capacity: %v, want SERVFAIL naming the capacity", err)
	}
	if len(r.waiting) != lim.waiting {
		t.Errorf("%d waiting, want %d: a lookup without a slot took one", len(r.waiting), lim.waiting)
	}
	wg.Wait()
	waitFor(t, "the slots to be given back", func() bool { return len(r.waiting) == 0 })
}

// An upstream that ignores the UDP size we advertise: the reply does not
// fit the read buffer, so it is asked again over TCP.
func TestOversizedUDPReplyGoesTCP(t *testing.T) {
	big := func(q *dns.Msg) *dns.Msg {
		m := new(dns.Msg)
		m.SetReply(q)
		for i := range 120 { // ~1900 bytes: more than ednsUDPSize
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(198, 18, 2, byte(i))})
		}
		return m
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	l, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Skipf("TCP port %s taken: %v", pc.LocalAddr(), err) // rare: the same port for TCP
	}
	defer l.Close()
	var tcpQueries atomic.Int32
	go func() { // UDP: always the whole answer, whatever the query allows
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			b, _ := big(q).Pack()
			pc.WriteTo(b, from)
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				co := &dns.Conn{Conn: c}
				q, err := co.ReadMsg()
				if err != nil {
					return
				}
				tcpQueries.Add(1)
				co.WriteMsg(big(q))
			}()
		}
	}()
	u := newUDPUpstream(pc.LocalAddr().String())
	defer u.Close()
	q := new(dns.Msg)
	q.SetQuestion("big.example.", dns.TypeA)
	q.SetEdns0(ednsUDPSize, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := u.Exchange(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) != 120 || m.Truncated || tcpQueries.Load() != 1 {
		t.Fatalf("got %d records (truncated %v) after %d TCP queries, want 120 over TCP", len(m.Answer), m.Truncated, tcpQueries.Load())
	}
}

// At most maxAttempts exchanges per lookup, however many upstreams.
func TestExchangeAttemptsBounded(t *testing.T) {
	var asked atomic.Int32
	var ups []*upstreamState
	for i := range maxAttempts + 3 {
		ups = append(ups, &upstreamState{u: &funcUpstream{addr: fmt.Sprintf("192.0.2.%d:53", i+1),
			exchange: func(context.Context, *dns.Msg) (*dns.Msg, error) {
				asked.Add(1)
				return nil, errors.New("refused")
			}}})
	}
	q := new(dns.Msg)
	q.SetQuestion("x.example.", dns.TypeA)
	if _, err := exchange(context.Background(), ups, q, time.Hour); err == nil {
		t.Fatal("every upstream failed, exchange did not")
	}
	if n := asked.Load(); n != maxAttempts {
		t.Fatalf("%d exchanges for one lookup, want %d", n, maxAttempts)
	}
}

// A lone upstream is asked again after a lost packet, not after it
// answered SERVFAIL: that would double the load on a failing server.
func TestLoneUpstreamRetry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply func(q *dns.Msg) (*dns.Msg, error)
		want  int32
	}{
		{"servfail", func(q *dns.Msg) (*dns.Msg, error) {
			m := new(dns.Msg)
			m.SetRcode(q, dns.RcodeServerFailure)
			return m, nil
		}, 1},
		{"lost", func(*dns.Msg) (*dns.Msg, error) { return nil, errTimeout }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked atomic.Int32
			ups := []*upstreamState{{u: &funcUpstream{addr: "192.0.2.1:53",
				exchange: func(_ context.Context, q *dns.Msg) (*dns.Msg, error) {
					asked.Add(1)
					return tc.reply(q)
				}}}}
			q := new(dns.Msg)
			q.SetQuestion("x.example.", dns.TypeA)
			if _, err := exchange(context.Background(), ups, q, time.Hour); err == nil {
				t.Fatal("exchange did not fail")
			}
			if n := asked.Load(); n != tc.want {
				t.Fatalf("asked %d times, want %d", n, tc.want)
			}
		})
	}
}
