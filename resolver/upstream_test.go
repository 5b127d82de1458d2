package resolver

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Tests of the UDP upstream's shared sockets (udpUpstream, muxConn)
// against real servers on loopback.

// rawServer is a UDP "server" on loopback whose replies the test writes
// itself: queries arrive on got.
type rawServer struct {
	pc  net.PacketConn
	got chan rawQuery
}

type rawQuery struct {
	q    *dns.Msg
	from net.Addr
}

func startRaw(t *testing.T) *rawServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{pc: pc, got: make(chan rawQuery, 64)}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) == nil {
				s.got <- rawQuery{q, from}
			}
		}
	}()
	return s
}

func (s *rawServer) addr() string { return s.pc.LocalAddr().String() }

// next returns the next query the server received.
func (s *rawServer) next(t *testing.T) rawQuery {
	t.Helper()
	select {
	case x := <-s.got:
		return x
	case <-time.After(30 * time.Second): // a bound on a stuck test, not a timing
		t.Fatal("no query reached the server")
		return rawQuery{}
	}
}

// answer sends a reply to x from conn (nil: the server's socket) for name
// with address a, with id.
func (s *rawServer) answer(t *testing.T, conn net.PacketConn, x rawQuery, name string, id uint16, a net.IP) {
	t.Helper()
	m := new(dns.Msg)
	m.SetReply(x.q)
	m.Id = id
	m.Question[0].Name = name
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: a}}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if conn == nil {
		conn = s.pc
	}
	if _, err := conn.WriteTo(b, x.from); err != nil {
		t.Fatal(err)
	}
}

type exResult struct {
	r   *dns.Msg
	err error
}

// goExchange starts u.Exchange for name in the background.
func goExchange(ctx context.Context, u *udpUpstream, name string) <-chan exResult {
	ch := make(chan exResult, 1)
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	go func() {
		r, err := u.Exchange(ctx, q)
		ch <- exResult{r, err}
	}()
	return ch
}

func waitResult(t *testing.T, ch <-chan exResult) exResult {
	t.Helper()
	select {
	case x := <-ch:
		return x
	case <-time.After(30 * time.Second):
		t.Fatal("exchange did not return")
		return exResult{}
	}
}

// TestMuxIDCollision: a second query on the same socket never gets the ID
// of one still outstanding there, however the random IDs fall; each reply
// reaches its own query.
func TestMuxIDCollision(t *testing.T) {
	t.Parallel()
	srv := startRaw(t)
	u := newUDPUpstream(srv.addr())
	defer u.Close()
	u.nsocks = 1
	var mu sync.Mutex
	ids := []uint16{7, 7, 7, 9} // the second query draws 7 twice before 9
	u.testID = func() uint16 {
		mu.Lock()
		defer mu.Unlock()
		id := ids[0]
		ids = ids[1:]
		return id
	}
	ctx := context.Background()
	a := goExchange(ctx, u, "a.test.")
	xa := srv.next(t)
	b := goExchange(ctx, u, "b.test.")
	xb := srv.next(t)
	if xa.q.Id != 7 || xb.q.Id != 9 {
		t.Fatalf("IDs %d and %d on one socket; want 7 and 9", xa.q.Id, xb.q.Id)
	}
	if xa.from.String() != xb.from.String() {
		t.Fatalf("queries came from %s and %s; want one shared socket", xa.from, xb.from)
	}
	srv.answer(t, nil, xb, "b.test.", xb.q.Id, net.IPv4(198, 18, 0, 2))
	srv.answer(t, nil, xa, "a.test.", xa.q.Id, net.IPv4(198, 18, 0, 1))
	for _, c := range []struct {
		ch   <-chan exResult
		want string
	}{{a, "198.18.0.1"}, {b, "198.18.0.2"}} {
		x := waitResult(t, c.ch)
		if x.err != nil || addrsOf(x.r) != c.want {
			t.Fatalf("got %v %v; want %s", x.err, x.r, c.want)
		}
	}
}

// TestMuxLateAndSpoofedReplies: a reply for a query that has ended, one
// with the wrong question, and one from another address are dropped; the
// query waiting on the socket gets only its own reply.
func TestMuxLateAndSpoofedReplies(t *testing.T) {
	t.Parallel()
	srv := startRaw(t)
	u := newUDPUpstream(srv.addr())
	defer u.Close()
	u.nsocks = 1
	u.testID = func() uint16 { return 5 } // the ended query's ID is free again: the next one takes it

	ctx, cancel := context.WithCancel(context.Background())
	late := goExchange(ctx, u, "late.test.")
	xl := srv.next(t)
	cancel()
	if x := waitResult(t, late); !errors.Is(x.err, errTimeout) {
		t.Fatalf("cancelled exchange: %v %v; want %v", x.r, x.err, errTimeout)
	}

	cur := goExchange(context.Background(), u, "cur.test.")
	xc := srv.next(t)
	if xc.q.Id != xl.q.Id || xc.from.String() != xl.from.String() {
		t.Fatalf("second query id %d from %s; want id %d from %s", xc.q.Id, xc.from, xl.q.Id, xl.from)
	}
	// The late reply: right ID and socket, the ended query's question.
	srv.answer(t, nil, xl, "late.test.", xl.q.Id, net.IPv4(6, 6, 6, 1))
	// A spoofed reply from another port: right ID and question.
	other, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	srv.answer(t, other, xc, "cur.test.", xc.q.Id, net.IPv4(6, 6, 6, 2))
	// Wrong ID, right question and source.
	srv.answer(t, nil, xc, "cur.test.", xc.q.Id+1, net.IPv4(6, 6, 6, 3))
	srv.answer(t, nil, xc, "cur.test.", xc.q.Id, net.IPv4(198, 18, 0, 1))
	x := waitResult(t, cur)
	if x.err != nil || addrsOf(x.r) != "198.18.0.1" {
		t.Fatalf("got %v %s; want the genuine reply 198.18.0.1", x.err, describe(x.r))
	}
	u.mu.Lock()
	n := len(u.socks[0].waiters)
	u.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d queries still waiting after all ended", n)
	}
}

// TestMuxRotation: a socket takes muxUses queries or lives muxAge, then
// makes room for a fresh one (a new random port) and is closed once its
// queries are done.
func TestMuxRotation(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	u := newUDPUpstream(up.addr)
	defer u.Close()
	clock := newClock()
	u.now = clock.Now
	q := new(dns.Msg)
	q.SetQuestion("rot.other.test.", dns.TypeA)
	ctx := context.Background()
	ask := func(n int) {
		t.Helper()
		for range n {
			if _, err := u.Exchange(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	u.nsocks = 1 // one socket at a time: which one a query takes is then known
	// By uses: a socket takes muxUses queries, then closes once they are
	// done, and the next query opens a fresh one.
	ask(muxUses)
	if n := u.opened.Load(); n != 1 {
		t.Fatalf("%d sockets opened for %d queries; want 1", n, muxUses)
	}
	waitFor(t, "used-up socket closed", func() bool { return u.live.Load() == 0 })
	ask(1)
	if n := u.opened.Load(); n != 2 {
		t.Fatalf("%d sockets opened; want a fresh one after %d uses", n, muxUses)
	}
	// By age.
	ask(1)
	clock.Advance(muxAge)
	ask(1)
	if n := u.opened.Load(); n != 3 {
		t.Fatalf("%d sockets opened; want a fresh one after muxAge", n)
	}
	if n := u.live.Load(); n != 1 {
		t.Fatalf("%d sockets open; want 1 (the old one closed)", n)
	}
	u.Close()
	if n := u.live.Load(); n != 0 {
		t.Fatalf("%d sockets open after Close", n)
	}
	if _, err := u.Exchange(ctx, q); err == nil {
		t.Fatal("closed upstream still sends")
	}
}

// TestMuxRefused: an upstream port that is closed fails every query on the
// socket at once (ICMP port unreachable), not after the timeout, and a
// fresh socket takes the next query once the server is back.
func TestMuxRefused(t *testing.T) {
	t.Parallel()
	srv := startRaw(t)
	addr := srv.addr()
	u := newUDPUpstream(addr)
	defer u.Close()
	u.nsocks = 1
	ctx := context.Background() // Exchange's own 5 s bound; errTimeout would mean the refusal went unseen
	a := goExchange(ctx, u, "a.test.")
	srv.next(t)
	b := goExchange(ctx, u, "b.test.")
	srv.next(t)
	srv.pc.Close() // both queries outstanding; the next datagram gets ICMP port unreachable
	c := goExchange(ctx, u, "c.test.")
	for _, ch := range []<-chan exResult{a, b, c} {
		x := waitResult(t, ch)
		if !errors.Is(x.err, syscall.ECONNREFUSED) {
			t.Fatalf("got %v %v; want connection refused", x.r, x.err)
		}
	}
	waitFor(t, "refused socket closed", func() bool { return u.live.Load() == 0 })

	pc, err := net.ListenPacket("udp", addr) // the server is back
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
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
		m := new(dns.Msg)
		m.SetReply(q)
		out, _ := m.Pack()
		pc.WriteTo(out, from)
	}()
	x := waitResult(t, goExchange(ctx, u, "d.test."))
	if x.err != nil {
		t.Fatalf("after the server came back: %v", x.err)
	}
	if n := u.opened.Load(); n != 2 {
		t.Fatalf("%d sockets opened; want 2 (one refused, one fresh)", n)
	}
}

// TestMuxManyOutstanding: hundreds of queries outstanding at once over the
// shared sockets each get their own answer (the upstream holds every
// answer until all have arrived).
func TestMuxManyOutstanding(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	gate := make(chan struct{})
	up.gate.Store(&gate)
	u := newUDPUpstream(up.addr)
	defer u.Close()
	const n = 120 // more may overflow the test server's receive buffer under -race
	chs := make([]<-chan exResult, n)
	for i := range n {
		chs[i] = goExchange(context.Background(), u, "n"+strconv.Itoa(i)+".other.test.")
	}
	waitFor(t, "all queries at the upstream", func() bool {
		up.mu.Lock()
		defer up.mu.Unlock()
		return len(up.seen) == n
	})
	close(gate)
	for i, ch := range chs {
		x := waitResult(t, ch)
		if x.err != nil || len(x.r.Question) != 1 || x.r.Question[0].Name != "n"+strconv.Itoa(i)+".other.test." {
			t.Fatalf("query %d: %v %s", i, x.err, describe(x.r))
		}
	}
	if o := u.opened.Load(); o != int32(muxSocketsNow()) {
		t.Fatalf("%d sockets for %d queries; want %d (one per CPU, at most %d)", o, n, muxSocketsNow(), muxSockets)
	}
}

// TestMissesAnsweredTogether: answers of lookups that end at the same
// moment leave in batches (batchWriter), each to its own client with its
// own answer.
func TestMissesAnsweredTogether(t *testing.T) {
	t.Parallel()
	up := startUpstream(t)
	gate := make(chan struct{})
	up.gate.Store(&gate)
	r := startWith(t, testConfig(up.addr), Options{})
	addr := r.Addrs()[0]
	const n = 60
	type answer struct {
		i   int
		m   *dns.Msg
		err error
	}
	answers := make(chan answer, n)
	for i := range n {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second)) // a bound on a stuck test, not a timing
		q := new(dns.Msg)
		q.SetQuestion("t"+strconv.Itoa(i)+".other.test.", dns.TypeA)
		b, _ := q.Pack()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		go func() {
			buf := make([]byte, 1500)
			k, err := c.Read(buf)
			m := new(dns.Msg)
			if err == nil {
				err = m.Unpack(buf[:k])
			}
			answers <- answer{i, m, err}
		}()
	}
	waitFor(t, "all lookups at the upstream", func() bool {
		up.mu.Lock()
		defer up.mu.Unlock()
		return len(up.seen) == n
	})
	close(gate) // every lookup ends at once
	for range n {
		a := <-answers
		if a.err != nil {
			t.Fatalf("client %d: %v", a.i, a.err)
		}
		if want := "t" + strconv.Itoa(a.i) + ".other.test."; len(a.m.Question) != 1 || a.m.Question[0].Name != want || a.m.Rcode != dns.RcodeSuccess || len(a.m.Answer) == 0 {
			t.Fatalf("client %d got %s for %v; want an answer for %s", a.i, describe(a.m), a.m.Question, want)
		}
	}
}
