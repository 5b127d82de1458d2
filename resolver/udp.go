package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// The UDP hot path. Cache hits are answered in the reading goroutine from
// packed bytes (fastAnswer); everything that may wait on upstream goes to
// its own goroutine, bounded by maxWaiting (see slowUDP).

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
		r.slowUDP(uc, buf[:n], from, false)
	}
}

// batchConn is what ipv4.PacketConn and ipv6.PacketConn have in common.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// serveUDPBatch reads and answers up to udpBatch packets per system call.
func (r *Resolver) serveUDPBatch(uc *net.UDPConn) {
	var bc batchConn = ipv4.NewPacketConn(uc)
	if a, ok := uc.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		bc = ipv6.NewPacketConn(uc)
	}
	rms := make([]ipv4.Message, udpBatch)
	wms := make([]ipv4.Message, udpBatch)
	outs := make([][]byte, udpBatch)
	for i := range rms {
		rms[i].Buffers = [][]byte{make([]byte, udpReadBuf)}
		wms[i].Buffers = make([][]byte, 1)
		outs[i] = make([]byte, 0, 1024)
	}
	key := make([]byte, 0, 300)
	rc, rcErr := uc.SyscallConn()
	for {
		n, err := bc.ReadBatch(rms, 0)
		if err != nil {
			if r.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		behind := n == len(rms) && rcErr == nil && deepQueue(rc)
		w := 0
		var counts [len(sources)]uint64 // added up once per batch
		now := r.now()                  // once per batch
		c := r.cfg.Load()
		for i := range n {
			m := &rms[i]
			if m.N == udpReadBuf {
				continue
			}
			pkt := m.Buffers[0][:m.N]
			if c.AllowRemote && !c.allows(m.Addr) {
				if ua, ok := m.Addr.(*net.UDPAddr); ok {
					r.refuse(uc, pkt, ua.AddrPort())
				}
				continue
			}
			if b, src := r.fastAnswer(outs[w], key, pkt, false, now); b != nil {
				counts[src]++
				outs[w] = b[:0] // keep a buffer that grew
				wms[w].Buffers[0] = b
				wms[w].Addr = m.Addr
				w++
				continue
			}
			if ua, ok := m.Addr.(*net.UDPAddr); ok {
				r.slowUDP(uc, pkt, ua.AddrPort(), behind)
			}
		}
		for i, k := range counts {
			if k > 0 {
				r.counts[i].Add(k)
			}
		}
		for off := 0; off < w; {
			k, err := bc.WriteBatch(wms[off:w], 0)
			if err != nil || k == 0 {
				break // the clients ask again; never stall reading
			}
			off += k
		}
	}
}

// slowUDP answers a query that is not a plain cache hit in its own
// goroutine, which may wait on upstream. When maxWaiting queries wait
// already it answers here in the reading goroutine, without waiting: from
// the cache, a pin, a learned or a stale answer, else SERVFAIL. That costs
// microseconds, so the readers keep up and the kernel drops nothing. So it
// does when the reader is behind (see deepQueue).
func (r *Resolver) slowUDP(uc *net.UDPConn, pkt []byte, from netip.AddrPort, behind bool) {
	ctx, done := r.admit(r.ctx)
	if behind && !mustNotWait(ctx) {
		done()
		ctx, done = context.WithValue(r.ctx, noWait{}, true), func() {}
	}
	if mustNotWait(ctx) {
		func() {
			defer r.survive("query", func() {
				if b := overloaded(pkt); b != nil {
					uc.WriteToUDPAddrPort(b, from)
				}
			})
			if b := r.slowAnswer(ctx, pkt, false); b != nil {
				uc.WriteToUDPAddrPort(b, from)
			}
		}()
		return
	}
	pkt = append([]byte(nil), pkt...)
	r.wg.Add(1)
	go func() {
		defer func() { done(); r.wg.Done() }()
		defer r.survive("query", func() {
			if b := overloaded(pkt); b != nil {
				uc.WriteToUDPAddrPort(b, from)
			}
		})
		if b := r.slowAnswer(ctx, pkt, false); b != nil {
			uc.WriteToUDPAddrPort(b, from)
		}
	}()
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
