package resolver

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"

	"github.com/miekg/dns"
)

// The UDP hot path. Cache hits are answered in the reading goroutine from
// packed bytes (fastAnswer); everything that may wait on upstream goes to
// a worker goroutine, bounded by maxWaiting (see slowUDP).

const (
	udpBatch   = 32
	udpReadBuf = 4096 // a query is never near this; bigger ones are dropped as truncated
)

// A reader is behind when its socket's receive queue is more than an
// eighth full (deepQueue: with 4 MiB about a thousand queries, 0.1 s at
// 10k qps; looked at only after a full batch, so it costs nothing while
// the reader keeps up): queries arrive faster than the
// resolver answers them, e.g. when it gets little CPU. Until the queue is
// short again, queries that are not cache hits are answered at once from
// what dnspin has, else SERVFAIL, without an upstream lookup (microseconds
// instead of tens of them): the queue drains instead of overflowing, and
// no query is dropped unanswered. Counting full batches instead would shed
// an ordinary burst of a few hundred queries.

// serveUDPPlain reads one packet per system call.
func (r *Resolver) serveUDPPlain(uc *net.UDPConn) {
	buf := make([]byte, udpReadBuf)
	out := make([]byte, 0, udpReadBuf)
	key := make([]byte, 0, 300)
	aw := newBatchWriter(uc, false, nil)
	for {
		n, from, err := uc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if r.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n == len(buf) {
			continue // truncated by the read: no query is this big
		}
		if c := r.cfg.Load(); c.AllowRemote && !c.allowsAddr(from.Addr()) {
			r.refuse(uc, buf[:n], from)
			continue
		}
		if b, src := r.fastAnswer(out, key, buf[:n], false, r.now()); b != nil {
			r.counts[src].Add(1)
			uc.WriteToUDPAddrPort(b, from)
			continue
		}
		r.slowUDP(uc, aw, buf[:n], from, false)
	}
}

// readPlain is readDatagrams one datagram per system call.
func readPlain(uc *net.UDPConn, bufSize int, handle func(b []byte, full bool)) error {
	buf := make([]byte, bufSize)
	for {
		n, err := uc.Read(buf)
		if err != nil {
			return err
		}
		handle(buf[:n], n == len(buf))
	}
}

// slowUDP answers a query that is not a plain cache hit on a worker
// goroutine, which may wait on upstream. When maxWaiting queries wait
// already it answers here in the reading goroutine, without waiting: from
// the cache, a pin, a learned or a stale answer, else SERVFAIL. That costs
// microseconds, so the readers keep up and the kernel drops nothing. So it
// does when the reader is behind (see deepQueue).
//
// The reading goroutine writes its answers itself; the workers go through
// aw, which batches the answers of queries whose lookups ended together.
func (r *Resolver) slowUDP(uc *net.UDPConn, aw *batchWriter, pkt []byte, from netip.AddrPort, behind bool) {
	if behind || !r.tryAdmit() {
		func() {
			defer r.survive("query", func() {
				if b := overloaded(pkt); b != nil {
					uc.WriteToUDPAddrPort(b, from)
				}
			})
			if b := r.slowAnswer(r.noWait, pkt, false); b != nil {
				uc.WriteToUDPAddrPort(b, from)
			}
		}()
		return
	}
	j := slowJob{aw: aw, pkt: append([]byte(nil), pkt...), from: from}
	select {
	case r.jobs <- j: // an idle worker takes it
	default:
		r.wg.Add(1)
		go r.slowWorker(j)
	}
}

// slowJob is one query for a worker: admitted (it holds a slot of
// r.waiting), its packet copied.
type slowJob struct {
	aw   *batchWriter
	pkt  []byte
	from netip.AddrPort
}

// maxIdleWorkers bounds the workers that wait for the next query instead of
// ending. Reusing a goroutine saves a miss the start of a new one and the
// growth of its stack (5 % of dnspin's CPU at saturation); the idle ones
// cost a few KB of stack each.
const maxIdleWorkers = 128

// slowWorker answers j, then the queries handed to it while it waits idle,
// until there are maxIdleWorkers idle already or the resolver stops.
func (r *Resolver) slowWorker(j slowJob) {
	defer r.wg.Done()
	for {
		r.runSlow(j)
		if r.idleWorkers.Add(1) > maxIdleWorkers {
			r.idleWorkers.Add(-1)
			return
		}
		select {
		case j = <-r.jobs:
			r.idleWorkers.Add(-1)
		case <-r.ctx.Done():
			r.idleWorkers.Add(-1)
			return
		}
	}
}

func (r *Resolver) runSlow(j slowJob) {
	defer func() { <-r.waiting }()
	defer r.survive("query", func() {
		if b := overloaded(j.pkt); b != nil {
			j.aw.write(b, j.from)
		}
	})
	if b := r.slowAnswer(r.ctx, j.pkt, false); b != nil {
		j.aw.write(b, j.from)
	}
}

// overloaded is SERVFAIL for a query we have no room for: better than
// silence, which costs a stub resolver its whole timeout.
func overloaded(pkt []byte) []byte {
	b := formerr(pkt)
	if b != nil {
		b[3] = byte(dns.RcodeServerFailure)
	}
	return b
}

// batchWriter sends datagrams on one socket in as few system calls as it
// can, without a goroutine of its own and without holding one back: the
// caller that finds no send under way yields once (runtime.Gosched, so that
// goroutines woken by the same batch of upstream replies queue their
// datagrams meanwhile), then sends all that is queued, with sendmmsg on
// Linux (elsewhere one call each), until the queue is empty; the others
// only queue. Under load one call carries many datagrams; with nothing else
// to run the yield costs nothing and the datagram goes out at once. A miss
// costs three system calls without it (query to upstream, its reply, the
// answer), which on a virtual machine were most of its CPU time.
type batchWriter struct {
	uc        *net.UDPConn
	bs        batchSender     // nil: one call per datagram; the flusher's
	connected bool            // no address per datagram
	onErr     func(err error) // a datagram was not sent (nil: ignore; clients ask again)

	mu    sync.Mutex
	q     []outDatagram
	spare []outDatagram
	busy  bool
}

// batchSender sends datagrams several per system call (Linux: sendmmsg)
// and returns the first error.
type batchSender interface {
	sendBatch(batch []outDatagram) error
}

type outDatagram struct {
	b  []byte
	to netip.AddrPort
}

func newBatchWriter(uc *net.UDPConn, connected bool, onErr func(error)) *batchWriter {
	return &batchWriter{uc: uc, bs: newBatchSender(uc, connected), connected: connected, onErr: onErr}
}

// write sends b to to (ignored when connected). It keeps b until sent.
func (w *batchWriter) write(b []byte, to netip.AddrPort) {
	w.mu.Lock()
	w.q = append(w.q, outDatagram{b, to})
	if w.busy {
		w.mu.Unlock()
		return
	}
	w.busy = true
	batch := w.spare
	w.spare = nil
	w.mu.Unlock()
	runtime.Gosched()
	w.mu.Lock()
	for len(w.q) > 0 {
		batch, w.q = w.q, batch[:0]
		w.mu.Unlock()
		w.flush(batch)
		clear(batch) // no references to sent datagrams
		w.mu.Lock()
	}
	w.busy = false
	w.spare = batch[:0]
	w.mu.Unlock()
}

func (w *batchWriter) flush(batch []outDatagram) {
	if w.bs != nil && len(batch) > 1 {
		if err := w.bs.sendBatch(batch); err != nil && w.onErr != nil {
			w.onErr(err)
		}
		return
	}
	for _, d := range batch {
		var err error
		if w.connected {
			_, err = w.uc.Write(d.b)
		} else {
			_, err = w.uc.WriteToUDPAddrPort(d.b, d.to)
		}
		if err != nil && w.onErr != nil {
			w.onErr(err)
		}
	}
}
