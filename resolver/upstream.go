package resolver

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Upstream is one upstream DNS server. Exchange sends m and returns the
// reply whose ID and question match m; the reply carries m's ID. Exchange
// must not modify m: the same message goes to several upstreams at once.
// An Upstream that keeps sockets may also implement io.Closer: the resolver
// closes it when it leaves the config and at Shutdown.
type Upstream interface {
	Address() string
	Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error)
}

var _ Upstream = (*udpUpstream)(nil)

// udpUpstream speaks plain DNS to IP:port: UDP first, TCP when the UDP
// answer is truncated.
//
// Queries share a few long-lived connected UDP sockets (muxSocketsNow), told
// apart by their IDs, as unbound and dnsproxy do: opening and closing a
// socket per query cost more than the rest of a cache miss, and a blocked
// read per query a goroutine. One reader goroutine per socket hands each
// reply to the query waiting for it. What keeps off-path spoofing hard:
//   - the ID of every query is random (a ChaCha8 stream per socket, seeded
//     from crypto/rand), never one still outstanding on the socket;
//   - each socket is bound by the OS to a random ephemeral port and
//     replaced after muxUses queries or muxAge, so the port an attacker
//     must guess changes all the time;
//   - the socket is connected: the kernel drops datagrams from any other
//     address or port, and a reply must carry the ID and the question of a
//     query outstanding on that socket (replyMatches), else it is dropped
//     and the query keeps waiting.
type udpUpstream struct {
	addr  string
	raddr *net.UDPAddr // nil if addr did not parse; Exchange then fails
	now   func() time.Time

	nsocks int           // sockets open for new queries: muxSocketsNow; tests use fewer
	testID func() uint16 // nil: random IDs; tests force collisions
	live   atomic.Int32  // sockets open (tests)
	opened atomic.Int32  // sockets opened so far (tests)

	mu     sync.Mutex
	socks  []*muxConn            // open for new queries, at most nsocks
	allMu  sync.Mutex            // held alone: close takes it under u.mu
	all    map[*muxConn]struct{} // open, retired ones included (allMu)
	next   int                   // round robin over socks
	closed bool                  // Close was called: no new queries
}

func newUDPUpstream(addr string) *udpUpstream {
	u := &udpUpstream{addr: addr, now: time.Now, nsocks: muxSocketsNow()}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		u.raddr = net.UDPAddrFromAddrPort(ap)
	}
	return u
}

// upstreamBufSize is the read buffer for a UDP reply: we ask upstreams for
// at most ednsUDPSize bytes over UDP (the OPT record of every query), so a
// longer datagram breaks that promise. One byte more tells it apart: it is
// treated as truncated and asked again over TCP, whose reads are sized by the
// length prefix (dns.Conn.ReadMsg). Each socket's reader has one.
const upstreamBufSize = ednsUDPSize + 1

// Sockets per upstream and how long each lives. One socket per CPU, up to
// muxSockets, spreads the replies over as many readers; more would only
// split the replies into smaller batches (a system call each) and give an
// off-path attacker more open ports to aim at. A socket takes muxUses
// queries or lives muxAge, whichever comes first, then takes no new queries
// and closes once its last query is answered or timed out. At 20k misses
// per second that is ~40 new sockets a second (the old pool opened one per
// 32 queries, ~600).
const (
	muxSockets = 4
	muxUses    = 512
	muxAge     = 10 * time.Second
)

// muxSocketsNow is how many sockets per upstream take new queries.
func muxSocketsNow() int { return max(1, min(runtime.GOMAXPROCS(0), muxSockets)) }

// muxConn is one connected UDP socket with the queries outstanding on it.
type muxConn struct {
	u    *udpUpstream
	c    *net.UDPConn
	w    *batchWriter
	born time.Time

	mu      sync.Mutex
	ids     *rand.ChaCha8 // query IDs
	waiters map[uint16]*muxWaiter
	uses    int
	retired bool // takes no new queries; closed once waiters is empty
	closed  bool
}

// muxWaiter is one query waiting for its reply. It ends once, by whoever
// removes it from its socket's waiters: its reply, a failure of the socket,
// or cancel.
type muxWaiter struct {
	s        *muxConn
	wire     []byte // the query as sent (the TCP retry asks it again)
	qEnd     int    // wire[12:qEnd] is the question a reply must carry
	deadline time.Time
	id       uint16
	to       receiver
}

// cancel ends w with err unless it has ended already (pending).
func (w *muxWaiter) cancel(err error) { w.s.finish(w, nil, err) }

// deliver hands w's outcome on: a truncated reply (TC set, or longer than
// we asked for) is asked again over TCP, in a goroutine of its own (rare;
// and the socket's reader must go on reading).
func (w *muxWaiter) deliver(b []byte, err error) {
	if err == errCut || err == nil && b[2]&0x02 != 0 {
		go func() {
			ctx, cancel := context.WithDeadline(context.Background(), w.deadline)
			defer cancel()
			b, err := w.s.u.tcpWire(ctx, w.wire)
			w.to.receive(b, err)
		}()
		return
	}
	w.to.receive(b, err)
}

// errCut is a UDP reply longer than the ednsUDPSize we asked for.
var errCut = errors.New("reply longer than asked for")

func (u *udpUpstream) Address() string { return u.addr }

// Close stops new queries and ends those outstanding with an error, so
// that the lookups waiting on them go on to the next upstream or end: the
// resolver calls it when the upstream leaves the config and at Shutdown.
func (u *udpUpstream) Close() error {
	u.mu.Lock()
	u.socks, u.closed = nil, true
	u.mu.Unlock()
	u.allMu.Lock()
	all := make([]*muxConn, 0, len(u.all))
	for s := range u.all {
		all = append(all, s)
	}
	u.allMu.Unlock()
	for _, s := range all {
		s.fail(errUpstreamClosed)
	}
	return nil
}

var errUpstreamClosed = errors.New("upstream closed (left the configuration, or dnspin is stopping)")

// open dials a new socket and starts its reader; u.mu held.
func (u *udpUpstream) openLocked() (*muxConn, error) {
	if u.raddr == nil {
		return nil, fmt.Errorf("upstream %q is not IP:port", u.addr)
	}
	c, err := net.DialUDP("udp", nil, u.raddr)
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	crand.Read(seed[:]) // never fails (Go 1.24+)
	s := &muxConn{u: u, c: c, born: u.now(), ids: rand.NewChaCha8(seed), waiters: map[uint16]*muxWaiter{}}
	s.w = newBatchWriter(c, true, s.fail)
	u.allMu.Lock()
	if u.all == nil {
		u.all = map[*muxConn]struct{}{}
	}
	u.all[s] = struct{}{}
	u.allMu.Unlock()
	u.opened.Add(1)
	u.live.Add(1)
	go s.read()
	return s, nil
}

// register picks a socket for a query and enters a waiter for it with a
// fresh ID, written into wire. The waiter ends on its reply, a read error,
// or cancel.
func (u *udpUpstream) register(wire []byte, qEnd int, deadline time.Time, to receiver) (*muxConn, *muxWaiter, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, nil, fmt.Errorf("upstream %s left the configuration", u.addr)
	}
	now := u.now()
	var s *muxConn
	for s == nil {
		if len(u.socks) < u.nsocks {
			var err error
			if s, err = u.openLocked(); err != nil {
				return nil, nil, err
			}
			u.socks = append(u.socks, s)
			break
		}
		u.next = (u.next + 1) % len(u.socks)
		if c := u.socks[u.next]; now.Sub(c.born) >= muxAge {
			u.socks = slices.Delete(u.socks, u.next, u.next+1)
			c.retire()
		} else {
			s = c
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &muxWaiter{s: s, wire: wire, qEnd: qEnd, deadline: deadline, to: to}
	for {
		if u.testID != nil {
			w.id = u.testID()
		} else {
			w.id = uint16(s.ids.Uint64())
		}
		if s.waiters[w.id] == nil {
			break
		}
	}
	s.waiters[w.id] = w
	binary.BigEndian.PutUint16(wire, w.id) // under s.mu, which the reader takes before it reads wire
	s.uses++
	if s.uses >= muxUses {
		if i := slices.Index(u.socks, s); i >= 0 {
			u.socks = slices.Delete(u.socks, i, i+1)
		}
		s.retired = true // closed when its waiters are done
	}
	return s, w, nil
}

// retire stops new queries on s and closes it when none are outstanding.
func (s *muxConn) retire() {
	s.mu.Lock()
	s.retired = true
	closeNow := len(s.waiters) == 0 && !s.closed
	s.closed = s.closed || closeNow
	s.mu.Unlock()
	if closeNow {
		s.close()
	}
}

// close closes the socket, once (s.closed set under s.mu by the caller);
// its reader then ends. The socket's Close runs on a goroutine of its own:
// it waits for a read under way to return, and the caller may be the
// reader itself.
func (s *muxConn) close() {
	go s.c.Close()
	s.u.live.Add(-1)
	s.u.allMu.Lock()
	delete(s.u.all, s)
	s.u.allMu.Unlock()
}

// finish ends w with b or err, unless it has ended already. b is valid
// only until it returns.
func (s *muxConn) finish(w *muxWaiter, b []byte, err error) {
	s.mu.Lock()
	if s.waiters[w.id] != w {
		s.mu.Unlock()
		return
	}
	delete(s.waiters, w.id)
	closeNow := s.retired && len(s.waiters) == 0 && !s.closed
	s.closed = s.closed || closeNow
	s.mu.Unlock()
	if closeNow {
		s.close()
	}
	w.deliver(b, err)
}

// read hands replies to their waiters until the socket is closed or
// fails, several per system call on Linux. A reply nobody waits for (late:
// its query timed out; or spoofed) is dropped, and so is one whose question
// does not match: that query keeps waiting for the real reply.
func (s *muxConn) read() {
	s.fail(readDatagrams(s.c, upstreamBufSize, muxReadBatch, s.reply))
}

// muxReadBatch is how many replies one recvmmsg takes (10 KB of buffers).
const muxReadBatch = 8

// reply hands one datagram to the query it answers, if any; cut means it
// filled the read buffer: more than the ednsUDPSize we asked for, so the
// query is asked again over TCP. The waiter gets b itself, valid until it
// returns: the reader's buffer is read into again.
func (s *muxConn) reply(b []byte, cut bool) {
	if len(b) < 12 || b[2]&0x80 == 0 { // not a DNS response
		return
	}
	id := binary.BigEndian.Uint16(b)
	s.mu.Lock()
	w := s.waiters[id]
	s.mu.Unlock()
	if w == nil {
		return
	}
	if cut {
		s.finish(w, nil, errCut)
		return
	}
	if !replyMatches(b, w.wire[12:w.qEnd]) {
		return
	}
	s.finish(w, b, nil)
}

// fail ends every query on s with err, and s itself: a connected socket
// reports an ICMP "port unreachable" of the upstream as ECONNREFUSED to one
// read, without saying which query it was for; all of them went to the
// same closed port. Queries after it get a fresh socket.
func (s *muxConn) fail(err error) {
	u := s.u
	u.mu.Lock()
	if i := slices.Index(u.socks, s); i >= 0 {
		u.socks = slices.Delete(u.socks, i, i+1)
	}
	u.mu.Unlock()
	s.mu.Lock()
	ws := s.waiters
	s.waiters = map[uint16]*muxWaiter{}
	s.retired = true
	wasClosed := s.closed
	s.closed = true
	s.mu.Unlock()
	if !wasClosed {
		s.close()
	}
	err = netErr(context.Background(), err)
	for _, w := range ws {
		w.deliver(nil, err)
	}
}

// errTimeout is an upstream that did not answer in time.
var errTimeout = errors.New("timed out")

// netErr says "timed out" for a deadline, instead of the socket details.
func netErr(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errTimeout
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return unwrapSyscall(oe.Err) // "connection refused": the address is in the message already
	}
	return err
}

// errNoMatch is a reply that does not belong to our query.
var errNoMatch = errors.New("reply does not match the question")

// receiver takes the outcome of an upstream query: the packed reply
// (valid only until receive returns: copy what you keep) or an error.
// receive must not block: it runs on a socket's reader goroutine.
type receiver interface {
	receive(reply []byte, err error)
}

// pending is a query under way; cancel ends it with err, unless it has
// ended already.
type pending interface {
	cancel(err error)
}

// sender is an Upstream that answers without a goroutine per query:
// exchange uses it instead of Exchange when an upstream has it.
type sender interface {
	// send sends wire, a packed query whose question is wire[12:qEnd],
	// with its ID replaced, and calls to.receive once with the reply (its
	// ID is send's, not wire's) or an error: the reply over TCP when the
	// UDP one was truncated, whose deadline is deadline. send writes
	// wire's first two bytes and keeps wire until it is sent: the caller
	// must not change it afterwards. It returns nil when to.receive was
	// called already (an error at once).
	send(wire []byte, qEnd int, deadline time.Time, to receiver) pending
}

var _ sender = (*udpUpstream)(nil)

func (u *udpUpstream) send(wire []byte, qEnd int, deadline time.Time, to receiver) pending {
	s, w, err := u.register(wire, qEnd, deadline, to)
	if err != nil {
		to.receive(nil, err)
		return nil
	}
	s.w.write(wire, netip.AddrPort{}) // a write error fails the socket's queries (fail)
	return w
}

// Exchange sends m with a fresh random ID, so that a spoofed reply has to
// guess it, and accepts only replies whose ID and question match.
func (u *udpUpstream) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	q := m.Copy() // Pack writes into the OPT record: m may be in use by another exchange
	wire, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("packing query for %s: %w", u.addr, err)
	}
	qEnd, err := questionEnd(wire)
	if err != nil {
		return nil, fmt.Errorf("packing query for %s: %w", u.addr, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	deadline, _ := ctx.Deadline()
	ch := make(msgReceiver, 1)
	if p := u.send(wire, qEnd, deadline, ch); p != nil {
		defer context.AfterFunc(ctx, func() { p.cancel(netErr(ctx, ctx.Err())) })()
	}
	x := <-ch
	if x.r != nil {
		x.r.Id = q.Id
	}
	return x.r, x.err
}

// msgReceiver unpacks the reply for a goroutine waiting on it.
type msgReceiver chan exchangeResult

type exchangeResult struct {
	r   *dns.Msg
	err error
}

func (ch msgReceiver) receive(b []byte, err error) {
	var r *dns.Msg
	if err == nil {
		r = new(dns.Msg)
		if err = r.Unpack(b); err != nil {
			r = nil
		}
	}
	ch <- exchangeResult{r, err}
}

// tcpWire asks the packed query wire again over TCP and returns the reply
// packed.
func (u *udpUpstream) tcpWire(ctx context.Context, wire []byte) ([]byte, error) {
	q := new(dns.Msg)
	if err := q.Unpack(wire); err != nil {
		return nil, err
	}
	r, err := u.tcp(ctx, q)
	if err != nil {
		return nil, err
	}
	return r.Pack()
}

// tcp asks q over TCP, with a fresh random ID.
func (u *udpUpstream) tcp(ctx context.Context, q *dns.Msg) (*dns.Msg, error) {
	tq := q.Copy()
	tq.Id = dns.Id()
	wire, err := tq.Pack()
	if err != nil {
		return nil, fmt.Errorf("packing query for %s: %w", u.addr, err)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return nil, netErr(ctx, err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	co := &dns.Conn{Conn: c}
	if _, err := co.Write(wire); err != nil {
		return nil, netErr(ctx, err)
	}
	r, err := co.ReadMsg()
	if err != nil {
		return nil, netErr(ctx, err)
	}
	if !matches(tq, r) {
		return nil, errNoMatch
	}
	return r, nil
}

// matches tells whether r answers q. A server that could not parse the
// question may return an error without it; that is accepted as an error.
func matches(q, r *dns.Msg) bool { return matchID(q, q.Id, r) }

// matchID is matches for q sent with ID id.
func matchID(q *dns.Msg, id uint16, r *dns.Msg) bool {
	if !r.Response || r.Id != id {
		return false
	}
	if len(r.Question) == 0 {
		return r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError
	}
	a, b := q.Question[0], r.Question[0]
	return len(r.Question) == 1 && a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

// upstreamState is an upstream with the health the resolver tracks for it.
// Health here means "does the server answer at all": SERVFAIL or REFUSED
// for some name is an answer, and says the server works; only silence
// (timeouts, network errors) counts against it. Whether the platform's
// names resolve is another matter, tracked by health.
type upstreamState struct {
	u    Upstream
	kick func()       // wakes the probe loop for a liveness check
	log  *slog.Logger // one line when the server stops and starts answering

	mu      sync.Mutex
	suspect bool   // a query went unanswered since the last answer: ranked last, checked at once
	down    bool   // and a liveness check went unanswered too
	answers uint64 // answers so far: silence counts only if none came while the query was out
	rtt     time.Duration
}

// mark is taken when a query is sent and passed to silent if it goes
// unanswered.
func (s *upstreamState) mark() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers
}

// answered records an answer of any kind; good ones (NOERROR, NXDOMAIN)
// update the round-trip time.
func (s *upstreamState) answered(rtt time.Duration, good bool) {
	s.mu.Lock()
	wasDown := s.down
	s.suspect, s.down = false, false
	s.answers++
	if good {
		if s.rtt == 0 {
			s.rtt = rtt
		} else {
			s.rtt = (7*s.rtt + rtt) / 8
		}
	}
	s.mu.Unlock()
	if wasDown && s.log != nil {
		s.log.Info("upstream server answers again", "upstream", s.u.Address())
	}
}

// silent records a query left unanswered (sent at mark); check tells a
// liveness check, whose silence marks the server down, from a client's
// lookup, whose silence only makes it suspect (a broken domain's slow
// servers can make a working resolver miss our deadline) and triggers a
// liveness check. An answer to another query meanwhile outweighs it.
func (s *upstreamState) silent(check bool, mark uint64) {
	s.mu.Lock()
	if s.answers != mark {
		s.mu.Unlock()
		return
	}
	wake := !s.suspect && !s.down
	wentDown := check && !s.down
	s.suspect = true
	if check {
		s.down = true
	}
	s.mu.Unlock()
	if wake && s.kick != nil {
		s.kick()
	}
	if wentDown && s.log != nil {
		s.log.Warn("upstream server does not answer", "upstream", s.u.Address())
	}
}

func (s *upstreamState) flags() (suspect, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.suspect, s.down
}

// close releases the upstream's sockets, if it keeps any.
func (s *upstreamState) close() {
	if c, ok := s.u.(io.Closer); ok {
		c.Close()
	}
}

func (s *upstreamState) status() UpstreamStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return UpstreamStatus{Address: s.u.Address(), Healthy: !s.down, RTT: s.rtt}
}

// rank orders upstreams for one query: those that answered their last
// query first, fastest first (stable, so equal ones keep the configured
// order).
func rank(ups []*upstreamState) []*upstreamState {
	type ranked struct {
		u   *upstreamState
		ok  bool
		rtt time.Duration
	}
	rs := make([]ranked, len(ups))
	for i, u := range ups {
		u.mu.Lock()
		rs[i] = ranked{u, !u.suspect && !u.down, u.rtt}
		u.mu.Unlock()
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		if a.ok != b.ok {
			if a.ok {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.rtt, b.rtt)
	})
	out := make([]*upstreamState, len(rs))
	for i, r := range rs {
		out[i] = r.u
	}
	return out
}

// exchange asks the upstreams in rank order until one gives a usable answer
// (NOERROR or NXDOMAIN). An upstream that fails makes the next one go at
// once; one that stays silent for hedge makes the next one go alongside, so
// a dead first upstream costs hedge, not the query. A lone upstream is asked
// twice, so one lost packet does not fail the query; not when it answered
// with an error (SERVFAIL, REFUSED): that would only double the load on a
// failing server.
//
// At most maxAttempts exchanges are started per lookup (a waiter each on a
// shared upstream socket, or a goroutine for an Upstream without send),
// whatever the number of upstreams: with the cap on lookups in flight that
// bounds the queries outstanding under any load.
//
// exchange waits for the outcome; ctx bounds it (its deadline, else 5 s).
func exchange(ctx context.Context, ups []*upstreamState, q *dns.Msg, hedge time.Duration) (*dns.Msg, error) {
	wire, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("packing the upstream query: %w", err)
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	ch := make(msgReceiver, 1)
	x := startExchange(ctx, timeout, ups, wire, hedge, ch)
	defer context.AfterFunc(ctx, x.expire)()
	r := <-ch
	return r.r, r.err
}

// startExchange is exchange without a goroutine of its own: it returns at
// once and calls to.receive with the outcome, from whichever goroutine
// delivers the last reply or timeout (a socket's reader, the run's timer);
// receive must not block. wire is the packed query; timeout bounds the
// whole exchange. The run it returns can be ended early (expire). ctx is
// for Upstreams without send only (the others end when their Close is
// called): their Exchange gets it, bounded by timeout.
func startExchange(ctx context.Context, timeout time.Duration, ups []*upstreamState, wire []byte, hedge time.Duration, to receiver) *exchangeRun {
	x := &exchangeRun{ctx: ctx, q: wire, hedge: hedge, to: to}
	if len(ups) == 0 {
		x.over = true
		to.receive(nil, errors.New("no upstream servers configured: set upstreams in the config"))
		return x
	}
	var err error
	if x.qEnd, err = questionEnd(wire); err != nil {
		x.over = true
		to.receive(nil, fmt.Errorf("packing the upstream query: %w", err))
		return x
	}
	if len(ups) == 1 { // asked twice (see exchange); nothing to rank
		x.ord = [maxAttempts]*upstreamState{ups[0], ups[0]}
		x.order = x.ord[:2]
	} else {
		x.order = rank(ups)
		x.order = x.order[:min(len(x.order), maxAttempts)]
	}
	x.t0, x.timeout = time.Now(), timeout
	x.deadline = x.t0.Add(timeout)
	x.mu.Lock()
	i := x.takeLocked(0)
	x.mu.Unlock()
	x.start(i, wire) // before the timer: no other send can run now, so wire needs no copy
	x.mu.Lock()
	if !x.over {
		x.timer = time.AfterFunc(x.waitLocked(time.Since(x.t0)), x.tick)
	}
	x.mu.Unlock()
	return x
}

// exchangeRun is one startExchange under way. One timer serves it: the
// next hedge while upstreams are left to ask, then the deadline. Times are
// kept as durations since t0: time.Since reads only the monotonic clock,
// time.Now reads two clocks, and on some virtual machines reading one is
// the dearest part of a miss.
type exchangeRun struct {
	ctx      context.Context
	q        []byte // the packed query
	qEnd     int    // q[12:qEnd] is its question
	order    []*upstreamState
	ord      [maxAttempts]*upstreamState // order's array for one upstream
	att      [maxAttempts]attempt
	hedge    time.Duration
	t0       time.Time
	timeout  time.Duration
	deadline time.Time // t0 + timeout
	to       receiver

	mu      sync.Mutex
	next    int                        // order[next] is asked next
	waiting int                        // exchanges started and not ended
	started [maxAttempts]time.Duration // since t0
	marks   [maxAttempts]uint64
	ended   [maxAttempts]bool
	pend    [maxAttempts]pending // ends attempt i; nil until its send returned
	errs    []string
	timer   *time.Timer // nil until the first send returned
	expired bool        // past the deadline: no new attempts, the others end
	over    bool        // to.receive was called or is being called
}

// attempt is exchange i of a run: the receiver of its outcome.
type attempt struct {
	x *exchangeRun
	i int
}

func (a *attempt) receive(b []byte, err error) {
	x := a.x
	if err == nil {
		if rc, rerr := replyRcode(b); rerr != nil {
			err = rerr
		} else if rc != dns.RcodeSuccess && rc != dns.RcodeNameError {
			err = errRcode(rc)
		}
	}
	x.result(a.i, b, err)
}

// takeLocked books the next exchange, at elapsed since t0; x.mu held.
func (x *exchangeRun) takeLocked(elapsed time.Duration) int {
	i := x.next
	x.started[i], x.marks[i] = elapsed, x.order[i].mark()
	x.att[i] = attempt{x, i}
	x.next++
	x.waiting++
	return i
}

// waitLocked is how long the timer waits, elapsed since t0: to the next
// hedge while there are upstreams left to ask, else to the deadline.
func (x *exchangeRun) waitLocked(elapsed time.Duration) time.Duration {
	d := x.timeout - elapsed
	if x.next < len(x.order) {
		d = min(d, x.hedge)
	}
	return d
}

// start sends to order[i]: by send for a sender, else Exchange in a goroutine.
func (x *exchangeRun) start(i int, wire []byte) {
	u := x.order[i]
	var p pending
	if s, ok := u.u.(sender); ok {
		p = s.send(wire, x.qEnd, x.deadline, &x.att[i])
	} else {
		p = x.goExchange(i, wire)
	}
	if p == nil {
		return
	}
	x.mu.Lock()
	x.pend[i] = p
	cancel := x.expired && !x.ended[i] || x.over
	x.mu.Unlock()
	if cancel { // the run ended or expired while this one was being sent
		p.cancel(errTimeout)
	}
}

// goExchange runs Exchange of an Upstream without send in a goroutine.
func (x *exchangeRun) goExchange(i int, wire []byte) pending {
	u := x.order[i].u
	q := new(dns.Msg)
	if err := q.Unpack(wire); err != nil {
		x.att[i].receive(nil, err)
		return nil
	}
	ctx, cancel := context.WithDeadline(x.ctx, x.deadline)
	go func() {
		defer cancel()
		defer func() { // an Upstream with a bug fails its query, nothing more
			if v := recover(); v != nil {
				x.result(i, nil, fmt.Errorf("internal error: %v", v))
			}
		}()
		r, err := u.Exchange(ctx, q)
		var b []byte
		if err == nil {
			b, err = r.Pack()
		} else {
			err = netErr(ctx, err)
		}
		x.att[i].receive(b, err)
	}()
	return cancelFunc(cancel)
}

// cloneQuery copies q for another send, all but its ID: the first send may
// be writing that meanwhile.
func cloneQuery(q []byte) []byte {
	b := make([]byte, len(q))
	copy(b[2:], q[2:])
	return b
}

// cancelFunc is the pending of a goroutine's Exchange: its context.
type cancelFunc context.CancelFunc

func (f cancelFunc) cancel(error) { f() }

// tick is the run's timer: past the deadline the run expires, else the
// next upstream goes alongside (order[next-1] stayed silent for hedge).
func (x *exchangeRun) tick() {
	elapsed := time.Since(x.t0)
	x.mu.Lock()
	if x.over {
		x.mu.Unlock()
		return
	}
	if elapsed >= x.timeout {
		x.mu.Unlock()
		x.expire()
		return
	}
	i := -1
	if x.next < len(x.order) {
		i = x.takeLocked(elapsed)
	}
	x.timer.Reset(x.waitLocked(elapsed))
	x.mu.Unlock()
	if i >= 0 {
		x.start(i, cloneQuery(x.q))
	}
}

// expire ends the attempts still under way with errTimeout, and so the run.
func (x *exchangeRun) expire() {
	x.mu.Lock()
	if x.over || x.expired {
		x.mu.Unlock()
		return
	}
	x.expired = true
	ps := x.outstandingLocked()
	x.mu.Unlock()
	for _, p := range ps {
		p.cancel(errTimeout)
	}
}

// outstandingLocked lists the attempts that have not ended; x.mu held.
func (x *exchangeRun) outstandingLocked() []pending {
	var ps []pending
	for j := range x.next {
		if !x.ended[j] && x.pend[j] != nil {
			ps = append(ps, x.pend[j])
		}
	}
	return ps
}

// result takes the outcome of exchange i: the answer ends the run; a
// failure starts the next upstream at once; the last failure ends it. b is
// valid only until it returns.
func (x *exchangeRun) result(i int, b []byte, err error) {
	elapsed := time.Since(x.t0)
	u := x.order[i]
	x.mu.Lock()
	if x.over || x.ended[i] {
		x.mu.Unlock()
		return
	}
	x.waiting--
	x.ended[i] = true
	rtt, mark := elapsed-x.started[i], x.marks[i]
	if err == nil {
		x.over = true
		var silent []int
		for j := range x.next { // silent past hedge while another answered: suspect
			if !x.ended[j] && x.order[j] != u && elapsed-x.started[j] >= x.hedge {
				silent = append(silent, j)
			}
		}
		x.mu.Unlock()
		u.answered(rtt, true)
		for _, j := range silent {
			x.order[j].silent(false, x.marks[j])
		}
		x.finish(b, nil)
		return
	}
	if isRcode(err) {
		u.answered(rtt, false) // it works; this name is its problem
	} else {
		u.silent(false, mark)
	}
	x.errs = append(x.errs, u.u.Address()+" "+err.Error())
	for isRcode(err) && x.next < len(x.order) && x.order[x.next] == u {
		x.next++ // it answered: the second try is for a lost packet, not a SERVFAIL
	}
	next := -1
	if x.next < len(x.order) && !x.expired {
		next = x.takeLocked(elapsed)
		if x.timer != nil {
			x.timer.Reset(x.waitLocked(elapsed))
		}
	} else if x.waiting == 0 {
		x.over = true
	}
	over, errs := x.over, x.errs
	x.mu.Unlock()
	switch {
	case next >= 0:
		x.start(next, cloneQuery(x.q))
	case over:
		x.finish(nil, errors.New("upstream "+strings.Join(slices.Compact(errs), ", ")))
	}
}

// finish stops the timer, ends the attempts still under way (a hedged
// one whose answer is no longer needed) and hands on the outcome.
func (x *exchangeRun) finish(b []byte, err error) {
	x.mu.Lock()
	if x.timer != nil {
		x.timer.Stop()
	}
	ps := x.outstandingLocked()
	x.mu.Unlock()
	for _, p := range ps {
		p.cancel(errTimeout) // ignored by result: the run is over
	}
	x.to.receive(b, err)
}
