package resolver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
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
type udpUpstream struct {
	addr  string
	raddr *net.UDPAddr // nil if addr did not parse; Exchange then fails
	bufs  *sync.Pool

	mu     sync.Mutex
	idle   []*upConn // sockets from clean exchanges, for reuse
	closed bool      // Close was called: sockets are closed after use
}

func newUDPUpstream(addr string, bufs *sync.Pool) *udpUpstream {
	u := &udpUpstream{addr: addr, bufs: bufs}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		u.raddr = net.UDPAddrFromAddrPort(ap)
	}
	return u
}

// upstreamBufSize is the read buffer for a UDP reply: we ask upstreams for
// at most ednsUDPSize bytes over UDP (the OPT record of every query), so a
// longer datagram breaks that promise. One byte more tells it apart: it is
// treated as truncated and asked again over TCP, whose reads are sized by the
// length prefix (dns.Conn.ReadMsg). 64 KiB buffers per read made a silent
// upstream cost ~1 GB at 10k queries per second.
const upstreamBufSize = ednsUDPSize + 1

// newBufPool pools the UDP read buffers of the upstreams of one resolver.
func newBufPool() *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, upstreamBufSize); return &b }}
}

// Opening a socket per query costs more than the rest of a cache miss, so
// sockets are reused, but each for a few queries only: the source port then
// still changes often, and with the random ID keeps off-path spoofing hard.
const (
	maxIdleConns = 64
	maxConnUses  = 32
)

type upConn struct {
	*net.UDPConn
	uses int
}

func (u *udpUpstream) conn() (*upConn, error) {
	u.mu.Lock()
	if n := len(u.idle); n > 0 {
		c := u.idle[n-1]
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		return c, nil
	}
	u.mu.Unlock()
	if u.raddr == nil {
		return nil, fmt.Errorf("%q is not IP:port", u.addr)
	}
	c, err := net.DialUDP("udp", nil, u.raddr)
	if err != nil {
		return nil, err
	}
	return &upConn{UDPConn: c}, nil
}

// release keeps a socket after a clean exchange. After a timeout or an
// error a late reply or ICMP message may still arrive on it: it is closed.
func (u *udpUpstream) release(c *upConn, clean bool) {
	c.uses++
	if clean && c.uses < maxConnUses {
		u.mu.Lock()
		if !u.closed && len(u.idle) < maxIdleConns {
			u.idle = append(u.idle, c)
			u.mu.Unlock()
			return
		}
		u.mu.Unlock()
	}
	c.Close()
}

func (u *udpUpstream) Address() string { return u.addr }

// Close closes the idle sockets; sockets in use are closed when their
// exchange ends. The resolver calls it when the upstream leaves the config
// and at Shutdown, so reloads do not pile up open sockets.
func (u *udpUpstream) Close() error {
	u.mu.Lock()
	idle := u.idle
	u.idle, u.closed = nil, true
	u.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
	return nil
}

// errTimeout is an upstream that did not answer in time.
var errTimeout = errors.New("timed out")

// netErr says "timed out" for a deadline, instead of the socket details.
func netErr(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
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

// Exchange sends m with a fresh random ID, so that a spoofed reply has to
// guess it, and accepts only replies whose ID and question match.
func (u *udpUpstream) Exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	q := m.Copy() // Pack writes into the OPT record: m may be in use by another exchange
	q.Id = dns.Id()
	wire, err := q.Pack()
	if err != nil {
		return nil, fmt.Errorf("packing query for %s: %w", u.addr, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	r, err := u.udp(ctx, wire, q)
	if err == nil && r.Truncated {
		r, err = u.tcp(ctx, wire, q)
	}
	if err != nil {
		return nil, err
	}
	r.Id = m.Id
	return r, nil
}

func (u *udpUpstream) udp(ctx context.Context, wire []byte, q *dns.Msg) (_ *dns.Msg, err error) {
	c, err := u.conn()
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		stopped := stop() // false: the deadline may be moving under us, do not reuse
		u.release(c, err == nil && stopped)
	}()
	if _, err := c.Write(wire); err != nil {
		return nil, err
	}
	bp := u.bufs.Get().(*[]byte)
	defer u.bufs.Put(bp)
	buf := *bp
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, netErr(ctx, err)
		}
		if n == len(buf) { // more than the ednsUDPSize we asked for: cut off, so ask over TCP
			return &dns.Msg{MsgHdr: dns.MsgHdr{Id: q.Id, Response: true, Truncated: true}, Question: q.Question}, nil
		}
		r := new(dns.Msg)
		if r.Unpack(buf[:n]) != nil || !matches(q, r) {
			continue // garbage or someone else's reply: keep waiting
		}
		return r, nil
	}
}

func (u *udpUpstream) tcp(ctx context.Context, wire []byte, q *dns.Msg) (*dns.Msg, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	c.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	co := &dns.Conn{Conn: c}
	if _, err := co.Write(wire); err != nil {
		return nil, err
	}
	r, err := co.ReadMsg()
	if err != nil {
		return nil, netErr(ctx, err)
	}
	if !matches(q, r) {
		return nil, errNoMatch
	}
	return r, nil
}

// matches tells whether r answers q. A server that could not parse the
// question may return an error without it; that is accepted as an error.
func matches(q, r *dns.Msg) bool {
	if !r.Response || r.Id != q.Id {
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
// At most maxAttempts exchanges are started per lookup (a goroutine and a
// socket each), whatever the number of upstreams: with the cap on lookups
// in flight that bounds goroutines and sockets under any load.
func exchange(ctx context.Context, ups []*upstreamState, q *dns.Msg, hedge time.Duration) (*dns.Msg, error) {
	if len(ups) == 0 {
		return nil, errors.New("no upstream servers configured: set upstreams in the config")
	}
	order := rank(ups)
	if len(order) == 1 {
		order = append(order, order[0])
	}
	order = order[:min(len(order), maxAttempts)]
	type result struct {
		i    int
		u    *upstreamState
		r    *dns.Msg
		err  error
		rtt  time.Duration
		mark uint64
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the others stop once one has answered
	results := make(chan result, len(order))
	next, waiting := 0, 0
	started := make([]time.Time, len(order))
	marks := make([]uint64, len(order))
	done := make([]bool, len(order))
	launch := func() {
		i, u := next, order[next]
		start := time.Now()
		started[i], marks[i] = start, u.mark()
		next++
		waiting++
		go func() {
			defer func() { // an Upstream with a bug fails its query, nothing more
				if v := recover(); v != nil {
					results <- result{i, u, nil, fmt.Errorf("internal error: %v", v), 0, marks[i]}
				}
			}()
			r, err := u.u.Exchange(ctx, q)
			if err == nil && r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
				err = errRcode(r.Rcode)
			}
			results <- result{i, u, r, err, time.Since(start), marks[i]}
		}()
	}
	launch()
	t := time.NewTimer(hedge)
	defer t.Stop()
	var errs []string
	for waiting > 0 {
		select {
		case x := <-results:
			waiting--
			done[x.i] = true
			if x.err == nil {
				x.u.answered(x.rtt, true)
				for i := range next { // silent past hedge while another answered: suspect
					if !done[i] && order[i] != x.u && time.Since(started[i]) >= hedge {
						order[i].silent(false, marks[i])
					}
				}
				return x.r, nil
			}
			if isRcode(x.err) {
				x.u.answered(x.rtt, false) // it works; this name is its problem
			} else {
				x.u.silent(false, x.mark)
			}
			errs = append(errs, x.u.u.Address()+" "+x.err.Error())
			for isRcode(x.err) && next < len(order) && order[next] == x.u {
				next++ // it answered: the second try is for a lost packet, not a SERVFAIL
			}
			if next < len(order) {
				launch()
				t.Reset(hedge)
			}
		case <-t.C:
			if next < len(order) {
				launch()
				t.Reset(hedge)
			}
		}
	}
	return nil, errors.New("upstream " + strings.Join(slices.Compact(errs), ", "))
}
