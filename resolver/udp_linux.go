package resolver

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux reads and writes datagrams in batches: recvmmsg and sendmmsg, up to
// 32 queries in one system call and their answers in one more.

func (r *Resolver) serveUDP(uc *net.UDPConn) { r.serveUDPBatch(uc) }

// serveUDPBatch reads and answers up to udpBatch packets per system call.
func (r *Resolver) serveUDPBatch(uc *net.UDPConn) {
	in, err := newMmsgConn(uc, udpBatch, udpReadBuf, false)
	var out *mmsgConn
	if err == nil {
		out, err = newMmsgConn(uc, udpBatch, 0, false)
	}
	if err != nil {
		r.log.Warn("UDP batches not available: one query per system call", "err", err)
		r.serveUDPPlain(uc)
		return
	}
	aw := newBatchWriter(uc, false, nil)
	outs := make([][]byte, udpBatch)
	for i := range outs {
		outs[i] = make([]byte, 0, 1024)
	}
	key := make([]byte, 0, 300)
	err = in.readLoop(r.udpReaders() == 1, func(n int) {
		behind := n == len(in.hdrs) && deepQueue(in.rc)
		w := 0
		var counts [len(sources)]uint64 // added up once per batch
		now := r.now()                  // once per batch
		c := r.cfg.Load()
		for i := range n {
			pkt, full := in.datagram(i)
			if full {
				continue // truncated by the read: no query is this big
			}
			if c.AllowRemote && !c.allowsAddr(in.from(i).Addr()) {
				r.refuse(uc, pkt, in.from(i))
				continue
			}
			if b, src := r.fastAnswer(outs[w], key, pkt, false, now); b != nil {
				counts[src]++
				outs[w] = b[:0] // keep a buffer that grew
				out.bufs[w] = b
				out.names[w], out.hdrs[w].hdr.Namelen = in.names[i], in.hdrs[i].hdr.Namelen
				w++
				continue
			}
			r.slowUDP(uc, aw, pkt, in.from(i), behind)
		}
		for i, k := range counts {
			if k > 0 {
				r.counts[i].Add(k)
			}
		}
		if w > 0 {
			out.send(w) // the clients ask again; never stall reading
		}
	})
	if r.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		r.log.Error("UDP reader stopped", "addr", uc.LocalAddr().String(), "err", err)
	}
}

// readDatagrams hands every datagram read from uc to handle (full: it
// filled a buffer of bufSize bytes) until reading fails, up to batch per
// system call.
func readDatagrams(uc *net.UDPConn, bufSize, batch int, handle func(b []byte, full bool)) error {
	c, err := newMmsgConn(uc, batch, bufSize, true)
	if err != nil {
		return readPlain(uc, bufSize, handle)
	}
	return c.readLoop(true, func(n int) {
		for i := range n {
			handle(c.datagram(i))
		}
	})
}

// newBatchSender sends a batchWriter's datagrams with sendmmsg.
func newBatchSender(uc *net.UDPConn, connected bool) batchSender {
	c, err := newMmsgConn(uc, 0, 0, connected)
	if err != nil {
		return nil
	}
	return c
}

// mmsghdr is C's struct mmsghdr; Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// mmsgConn reads or writes batches of datagrams on one UDP socket through
// headers, buffers and addresses made once: nothing is allocated per system
// call. The calls are raw (they never block: the socket is non-blocking,
// and the runtime's poller waits for it), which spares each the scheduler's
// hand-off of a blocking call.
type mmsgConn struct {
	rc     syscall.RawConn
	family uint16 // the socket's: AF_INET, or AF_INET6 (dual-stack too)
	hdrs   []mmsghdr
	iovs   []unix.Iovec
	names  []unix.RawSockaddrInet6 // nil on a connected socket; big enough for either family
	bufs   [][]byte                // read: the buffers; write: the datagrams of the call
	size   int                     // read: the buffers' size
	conn   bool                    // connected: no addresses
}

// newMmsgConn prepares n headers (grown by send as needed); bufSize > 0
// gives each a read buffer of that size.
func newMmsgConn(uc *net.UDPConn, n, bufSize int, connected bool) (*mmsgConn, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &mmsgConn{rc: rc, family: unix.AF_INET6, size: bufSize, conn: connected}
	var serr error
	err = rc.Control(func(fd uintptr) {
		var sa unix.Sockaddr
		if sa, serr = unix.Getsockname(int(fd)); serr == nil {
			if _, ok := sa.(*unix.SockaddrInet4); ok {
				c.family = unix.AF_INET
			}
		}
	})
	if err = errors.Join(err, serr); err != nil {
		return nil, err
	}
	c.grow(n)
	for i := range c.bufs {
		if bufSize > 0 {
			c.bufs[i] = make([]byte, bufSize)
		}
	}
	return c, nil
}

// grow makes room for n datagrams.
func (c *mmsgConn) grow(n int) {
	if n <= len(c.hdrs) {
		return
	}
	c.hdrs = make([]mmsghdr, n)
	c.iovs = make([]unix.Iovec, n)
	c.bufs = append(c.bufs, make([][]byte, n-len(c.bufs))...)
	if !c.conn {
		c.names = make([]unix.RawSockaddrInet6, n)
	}
	for i := range c.hdrs {
		h := &c.hdrs[i].hdr
		h.Iov = &c.iovs[i]
		h.SetIovlen(1)
		if c.names != nil {
			h.Name = (*byte)(unsafe.Pointer(&c.names[i]))
			h.Namelen = unix.SizeofSockaddrInet6
		}
	}
}

// readLoop reads batches and hands each to handle (n datagrams: see
// datagram and from) until a read fails.
//
// With alone, the caller is the socket's only reader: the loop then runs
// inside one RawConn.Read, so that after a batch that was not full (the
// socket's queue was empty) it waits for the poller's next "readable"
// before asking again, instead of a system call that would only say EAGAIN.
// (A new RawConn.Read forgets a "readable" that came meanwhile; staying
// inside one keeps it.) It holds the socket's read lock all along, so
// other readers of the socket would wait: without alone, each batch has a
// RawConn.Read of its own.
func (c *mmsgConn) readLoop(alone bool, handle func(n int)) error {
	var n int
	var errno syscall.Errno
	recv := func(fd uintptr) bool { // false: nothing to read (EAGAIN)
		for i := range c.hdrs {
			c.iovs[i].Base = &c.bufs[i][0]
			c.iovs[i].SetLen(c.size)
			c.hdrs[i].hdr.Flags = 0
			if c.names != nil {
				c.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
			}
		}
		for {
			r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.hdrs[0])), uintptr(len(c.hdrs)), 0, 0, 0)
			switch e {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			}
			n, errno = int(r), e
			return true
		}
	}
	var err error
	if alone {
		err = c.rc.Read(func(fd uintptr) bool {
			for recv(fd) {
				if errno != 0 {
					return true
				}
				handle(n)
				if n < len(c.hdrs) {
					return false // wait for readable
				}
			}
			return false
		})
	} else {
		for err == nil && errno == 0 {
			if err = c.rc.Read(recv); err == nil && errno == 0 {
				handle(n)
			}
		}
	}
	if err == nil {
		err = &net.OpError{Op: "recvmmsg", Net: "udp", Err: errno}
	}
	return err
}

// datagram is datagram i of the last batch read; full: it filled its
// buffer (so it may have been cut).
func (c *mmsgConn) datagram(i int) (b []byte, full bool) {
	n := int(c.hdrs[i].len)
	return c.bufs[i][:n], n >= c.size || c.hdrs[i].hdr.Flags&unix.MSG_TRUNC != 0
}

// from is the sender of datagram i of the last batch read.
func (c *mmsgConn) from(i int) netip.AddrPort {
	sa := &c.names[i]
	p := (*[2]byte)(unsafe.Pointer(&sa.Port)) // network byte order
	port := uint16(p[0])<<8 | uint16(p[1])
	if sa.Family == unix.AF_INET {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), port)
	}
	a := netip.AddrFrom16(sa.Addr)
	if sa.Scope_id != 0 {
		a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
	}
	return netip.AddrPortFrom(a, port)
}

// setTo addresses datagram i to ap, in the socket's family.
func (c *mmsgConn) setTo(i int, ap netip.AddrPort) {
	sa := &c.names[i]
	*sa = unix.RawSockaddrInet6{}
	port := [2]byte{byte(ap.Port() >> 8), byte(ap.Port())} // network byte order
	if c.family == unix.AF_INET {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		s4.Family = unix.AF_INET
		*(*[2]byte)(unsafe.Pointer(&s4.Port)) = port
		s4.Addr = ap.Addr().Unmap().As4()
		c.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4
		return
	}
	sa.Family = unix.AF_INET6
	*(*[2]byte)(unsafe.Pointer(&sa.Port)) = port
	sa.Addr = ap.Addr().As16() // IPv4 as ::ffff:a.b.c.d on a dual-stack socket
	if z := ap.Addr().Zone(); z != "" {
		if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			sa.Scope_id = uint32(n)
		} else if ifi, err := net.InterfaceByName(z); err == nil {
			sa.Scope_id = uint32(ifi.Index)
		}
	}
	c.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
}

// send sends the first n datagrams of c.bufs (addressed in c.names unless
// connected), as many per system call as the kernel takes; one it refuses
// is skipped, so a bad datagram never stalls the rest. It returns the first
// error.
func (c *mmsgConn) send(n int) error {
	for i := range n {
		c.iovs[i].Base = unsafe.SliceData(c.bufs[i])
		c.iovs[i].SetLen(len(c.bufs[i]))
	}
	var first error
	for off := 0; off < n; {
		var sent int
		var errno syscall.Errno
		err := c.rc.Write(func(fd uintptr) bool {
			for {
				r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&c.hdrs[off])), uintptr(n-off), 0, 0, 0)
				switch e {
				case unix.EINTR:
					continue
				case unix.EAGAIN:
					return false // wait for room in the send buffer
				}
				sent, errno = int(r), e
				return true
			}
		})
		switch {
		case err != nil:
			clear(c.bufs[:n])
			return err
		case errno != 0 || sent <= 0:
			if first == nil {
				first = &net.OpError{Op: "sendmmsg", Net: "udp", Err: errno}
			}
			off++ // skip the one that failed
		default:
			off += sent
		}
	}
	clear(c.bufs[:n]) // no references to sent datagrams
	return first
}

// sendBatch is batchSender's: the batch in as few system calls as it can.
func (c *mmsgConn) sendBatch(batch []outDatagram) error {
	c.grow(len(batch))
	for i, d := range batch {
		c.bufs[i] = d.b
		if c.names != nil {
			c.setTo(i, d.to)
		}
	}
	return c.send(len(batch))
}

// setRecvBuffer asks for a receive buffer of n bytes and returns what the
// kernel granted. SO_RCVBUFFORCE (root, CAP_NET_ADMIN: the service) passes
// net.core.rmem_max; SO_RCVBUF is clamped to it.
func setRecvBuffer(uc *net.UDPConn, n int) (int, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) != nil {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n); serr != nil {
				return
			}
		}
		// Linux reports twice the size asked for (the other half is its
		// bookkeeping); halve it to compare with n.
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			got = v / 2
		}
	})
	if err != nil {
		return 0, err
	}
	return got, serr
}

// deepQueue tells whether the socket's receive queue is more than an
// eighth full: SO_MEMINFO gives the memory queued (packets with their kernel
// bookkeeping) and the buffer it may fill.
func deepQueue(rc syscall.RawConn) bool {
	var mi [unix.SK_MEMINFO_VARS]uint32
	var errno syscall.Errno
	err := rc.Control(func(fd uintptr) {
		l := uint32(unsafe.Sizeof(mi))
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mi)), uintptr(unsafe.Pointer(&l)), 0)
	})
	if err != nil || errno != 0 {
		return false
	}
	return uint64(mi[unix.SK_MEMINFO_RMEM_ALLOC])*8 > uint64(mi[unix.SK_MEMINFO_RCVBUF])
}
